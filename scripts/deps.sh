#!/usr/bin/env bash
# Installs what building and testing Luna needs on a fresh Debian machine.
set -euo pipefail
apt_packages=(ca-certificates git make curl
	aria2 python3-libtorrent # real BitTorrent clients for the tracker tests
	snmpd snmp # a real SNMP agent for the MAC updater tests
	qemu-system-x86 ipxe-qemu # a real iPXE client for the lweb boot test
	ipxe # undionly.kpxe and ipxe.efi for /tftpboot (README Getting started)
	transmission-cli # a third BitTorrent client
	pigz attr acl libcap2-bin iproute2 rsync # image packing baseline, xattrs, ACLs, capabilities, namespaces
	openssh-server # a real sshd for the osimage grab and HA sync tests
	ansible-core # ansible-playbook for the contrib/ansible modules test
	dracut-core shellcheck # the initrd module and its lint
	bash-completion zsh groff-base man-db # the completion test (bash and zsh) and the man page check
	openipmi ipmitool # a real BMC simulator (ipmi_sim) and the reference IPMI client
	isc-dhcp-server kea-dhcp4-server busybox # dhcpd -t, kea-dhcp4 -t and a real DHCP exchange (udhcpc) for makedhcp
	isc-dhcp-client # dhclient for the initrd installer's DHCP boot test
	debootstrap # the Debian image of make e2e-vm
	rpm cpio selinux-policy-dev # rpmbuild of luna.spec, its payload, the luna-selinux policy module
	bind9 bind9-utils bind9-dnsutils) # named, named-checkconf, named-checkzone and dig for makedns
missing=()
for p in "${apt_packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
command -v go >/dev/null || { echo "deps: Go is not installed (https://go.dev/dl/, 1.26 or newer)"; exit 1; }
go mod download
echo "deps: ok"
