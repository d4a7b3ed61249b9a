# shellcheck shell=bash
# What Luna 1.2's README walkthrough must have left (cmd/luna readme_test.go).
fail() {
	echo "readme-test: FAIL: $*" >&2
	exit 1
}
ls /opt/luna/torrents/*.tgz /opt/luna/boot/compute-initramfs-* >/dev/null || fail "osimage pack left no tarball or initrd"
luna node list | grep -q 'node002' || fail "no node002"
luna group show compute --partscript | grep -q "mkfs.ext4 /dev/sda2" || fail "the partscript was not stored"
luna group show compute --postscript | grep -q "grub2-install /dev/sda" || fail "the postscript was not stored"
show=$(luna node show node001)
for f in 'switch +\| \[switch01\]' 'port +\| 1 ' 'localboot +\| yes' 'service +\| yes' 'setupbmc +\| yes'; do
	grep -Eq "$f" <<<"$show" || fail "node001 lacks /$f/"
done
grep -q 'hardware ethernet' /etc/dhcp/dhcpd.conf && fail "no node has a MAC, yet dhcpd.conf has a host entry"
grep -q 'range 10.30.128.1 10.30.140.255' /etc/dhcp/dhcpd.conf || fail "dhcpd.conf lacks the range"
[ -s /etc/named.luna.zones ] || fail "makedns wrote no /etc/named.luna.zones"
echo "readme-test: checks passed"
