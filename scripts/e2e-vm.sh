#!/usr/bin/env bash
# make e2e-vm (docs/e2e-vm.md): a qemu VM with no disk provisioned through
# the whole Luna flow. A Debian image made with debootstrap (cached under
# $LUNA_E2E_CACHE), the Luna dracut module and ltorrent-client installed
# into it, packed by `luna osimage pack`; lunadb, lweb, ltorrent and ISC
# dhcpd (makedhcp's configuration) in a network namespace lunavm-PID with a
# bridge on 192.0.2.254/24 (TEST-NET-1); the VM's virtio NIC boots qemu's
# iPXE ROM, whose DHCP request (user class iPXE) gets lweb's boot URL from
# dhcpd at once: iPXE -> lweb menu -> discovery -> kernel and initrd ->
# installer -> install script -> ltorrent-client -> unpack -> setnet ->
# switch_root. Passes when lweb stores install.success for the node and the
# booted image's first-boot service answers on the node's address.
# Needs root, debootstrap, qemu-system-x86_64, ipxe-qemu, dhcpd and curl.
# The whole script is one function, read before it runs: editing the file
# during a run does not change that run.
main() {
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

SUITE=${LUNA_E2E_SUITE:-bookworm}
MIRROR=${LUNA_E2E_MIRROR:-http://deb.debian.org/debian}
CACHE=${LUNA_E2E_CACHE:-/var/cache/luna-e2e}
TIMEOUT=${LUNA_E2E_TIMEOUT:-900} # seconds from qemu start to the marker
BASE_PACKAGES=procps,curl,tar,gzip,iproute2,systemd,systemd-sysv,ifupdown,busybox,udev,kmod
BOOT_PACKAGES="dracut linux-image-amd64"

NS=lunavm-$$
SRV=192.0.2.254
NODE_MAC=52:54:00:4c:56:01
MARKER_PORT=8080
work=$(mktemp -d /tmp/lunavm-XXXXXX)
t0=$(date +%s)

say() { printf 'e2e-vm [%4ds] %s\n' "$(($(date +%s) - t0))" "$*"; }
die() {
	say "FAIL: $*"
	exit 1
}
need() { command -v "$1" >/dev/null || die "$1 is needed: apt-get install $2 (or make deps)"; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, chroot for dracut, tap device): sudo make e2e-vm"
need debootstrap debootstrap
need qemu-system-x86_64 qemu-system-x86
need dhcpd isc-dhcp-server
need curl curl
need ip iproute2
[ -e /usr/lib/ipxe/qemu/efi-virtio.rom ] || [ -e /usr/share/qemu/efi-virtio.rom ] || die "qemu's iPXE ROM is needed: apt-get install ipxe-qemu"

pids=()
cleanup() {
	local rc=$?
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	sleep 1
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	if [ "$rc" -ne 0 ]; then
		if [ -f "$work/serial.log" ]; then
			echo "--- last 60 lines of the VM's serial log ($work/serial.log) ---"
			tail -n 60 "$work/serial.log" | tr -d '\r'
		fi
		for f in lweb ltorrent dhcpd; do
			[ -f "$work/$f.log" ] && { echo "--- last 15 lines of $f.log ---"; tail -n 15 "$work/$f.log"; }
		done
		say "kept $work (logs, image, serial log)"
	elif [ -z "${LUNA_E2E_KEEP:-}" ]; then
		rm -rf "$work"
	else
		say "kept $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the base image: debootstrap, cached by its inputs -------------------
key=$(printf '%s %s %s %s minbase\n' "$SUITE" "$MIRROR" "$BASE_PACKAGES" "$BOOT_PACKAGES" | sha256sum | cut -c1-16)
base=$CACHE/$SUITE-$key
if [ ! -d "$base" ]; then
	say "building the base image with debootstrap ($SUITE from $MIRROR) into $base"
	curl -fsS -o /dev/null --max-time 30 "$MIRROR/dists/$SUITE/Release" || die "$MIRROR is not reachable (set LUNA_E2E_MIRROR)"
	mkdir -p "$CACHE/tmp"
	rm -rf "$CACHE/tmp/build-$key"
	# In two steps: debootstrap resolves linux-image's "initramfs-tools |
	# linux-initramfs-tool" with its first choice, which conflicts with
	# dracut; apt in the new tree resolves it to the dracut installed first.
	# INITRD=No: no initramfs of the image's own (pack builds the one nodes get).
	debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$CACHE/tmp/build-$key" "$MIRROR" >"$CACHE/tmp/debootstrap-$key.log" 2>&1 ||
		die "debootstrap failed; see $CACHE/tmp/debootstrap-$key.log"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount sh -c 'mount -t proc proc "$1/proc" && chroot "$1" env DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -q --no-install-recommends $2' \
		sh "$CACHE/tmp/build-$key" "$BOOT_PACKAGES" >>"$CACHE/tmp/debootstrap-$key.log" 2>&1 ||
		die "apt-get install $BOOT_PACKAGES in the image failed; see $CACHE/tmp/debootstrap-$key.log"
	chroot "$CACHE/tmp/build-$key" apt-get clean
	mv "$CACHE/tmp/build-$key" "$base"
	say "base image built"
else
	say "base image from the cache: $base"
fi

# --- 2. the osimage: a copy of the base with the test's own files -----------
img=$work/image
cp -a "$base" "$img"
rm -rf "$img"/usr/share/doc/* "$img"/usr/share/man/* "$img"/usr/share/locale/* "$img"/usr/share/info/* "$img"/var/cache/apt/archives/*.deb
rm -f "$img"/boot/initrd.img-* # the image's own initrd: the node gets pack's
ln -sf /dev/null "$img/etc/systemd/system/e2scrub_reap.service"
printf '%s\n' 'auto lo' 'iface lo inet loopback' 'source /etc/network/interfaces.d/*' >"$img/etc/network/interfaces"
mkdir -p "$img/etc/network/interfaces.d"
# The initramfs pack builds: gzip -1 instead of Debian's -9 (a minute less
# of dracut on a loaded machine; the VM reads it at once either way).
echo 'compress="gzip -1"' >"$img/etc/dracut.conf.d/90-lunavm.conf"
# The first-boot service: the marker the test fetches over the network.
cat >"$img/etc/systemd/system/lunavm-marker.service" <<EOF
[Unit]
Description=Luna e2e-vm marker
Wants=network-online.target
After=network-online.target networking.service
[Service]
ExecStartPre=/bin/sh -c 'mkdir -p /run/lunavm && { echo "lunavm-booted \$(hostname)"; cat /proc/cmdline; } >/run/lunavm/index.html'
ExecStart=/bin/busybox httpd -f -p $MARKER_PORT -h /run/lunavm
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/lunavm-marker.service "$img/etc/systemd/system/multi-user.target.wants/lunavm-marker.service"
make -s install-initrd DESTDIR="$img" >/dev/null
kver=$(find "$img/lib/modules" -mindepth 1 -maxdepth 1 -printf "%f\n" | head -n1)
say "osimage tree ready in $img (kernel $kver)"

# --- 3. the server namespace -------------------------------------------------
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
nsx ip link add br0 type bridge
nsx ip addr add "$SRV/24" dev br0
nsx ip link set br0 up
nsx ip tuntap add dev tap0 mode tap
nsx ip link set tap0 master br0
nsx ip link set tap0 up

: >"$work/luna.conf"
export LUNA_DB=luna LUNA_CONF=$work/luna.conf LUNA_LOGDIR=$work/log LUNA_NO_RESTART=1
bg() { # name, command...: started in the namespace, output to $work/name.log
	local name=$1
	shift
	# ip netns exec execs the command: $! is the daemon's pid.
	ip netns exec "$NS" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
}
waitlog() { # name, regexp, seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -Eq "$2" "$work/$1.log" && return 0
		sleep 0.1
	done
	die "$1 did not log /$2/ within $3 s"
}
bg lunadb "$repo/bin/lunadb" --listen 127.0.0.1:27017 --data-dir "$work/db"
waitlog lunadb 'lunadb: serving mongodb://' 60
LUNA_MONGO_URI=$(grep -Eo 'mongodb://[^ ]+' "$work/lunadb.log" | head -n1)
export LUNA_MONGO_URI
luna() {
	echo "\$ luna $*"
	nsx "$repo/bin/luna" "$@"
}
opt=$work/opt
mkdir -p "$opt"
luna cluster init --frontend_address "$SRV" --user root --path "$opt"
luna cluster change --torrent_pidfile "$work/ltorrent.pid"
luna network add -n cluster -N 192.0.2.0 -P 24 --ns_hostname master
luna osimage add -n debian -p "$img"
# console=ttyS0: the serial log; net.ifnames=0: eth0 in the initramfs and in
# the booted image alike (the install script names BOOTIF's ifupdown file
# after the initramfs's name); virtio_pci for the virtio NIC (virtio_net is
# under drivers/net, which the luna module takes whole).
luna osimage change debian --kernopts "console=ttyS0 net.ifnames=0 panic=10" \
	--kernmodules ipmi_devintf,ipmi_si,ipmi_msghandler,virtio_pci,virtio_net
luna group add -n compute -o debian -N cluster
luna node add -g compute -n node001
luna node change node001 --mac "$NODE_MAC"
luna cluster makedhcp -N cluster -s 192.0.2.100 -e 192.0.2.150 --file "$work/dhcpd.conf"
node_ip=$(nsx "$repo/bin/luna" node show node001 -o json | grep -Eo '192\.0\.2\.[0-9]+' | head -n1)
[ -n "$node_ip" ] || die "node001 has no address on the cluster network"
grep -q "$NODE_MAC" "$work/dhcpd.conf" || die "makedhcp wrote no host entry for $NODE_MAC"
say "node001: MAC $NODE_MAC, address $node_ip"

# --- 4. pack: initrd by the image's dracut with the luna module, then the
# tarball without the kernel modules tree (the initramfs loads the drivers
# the node needs; the booted system keeps them).
ps1=$(date +%s)
luna osimage pack debian --boot
rm -rf "$img/lib/modules/$kver/kernel"
luna osimage pack debian --image
say "packed in $(($(date +%s) - ps1)) s: $(du -h "$opt"/torrents/*.tgz | cut -f1) tarball, initrd $(du -h "$opt"/boot/*initramfs* | cut -f1)"

# --- 5. daemons ----------------------------------------------------------------
: >"$work/dhcpd.leases"
bg dhcpd dhcpd -f -d -4 -cf "$work/dhcpd.conf" -lf "$work/dhcpd.leases" -pf "$work/dhcpd.pid" br0
mkdir -p "$work/tftpboot"
bg lweb "$repo/bin/lweb" --menu-timeout 1s --tftp-root "$work/tftpboot"
waitlog lweb 'msg="lweb listening"' 30
bg ltorrent "$repo/bin/ltorrent"
waitlog ltorrent 'msg="ltorrent listening"' 30
waitlog lweb "announce.* status=200 client=$SRV" 60
waitlog dhcpd 'Server starting service|Sending on' 30
say "lunadb, lweb, ltorrent, dhcpd running in namespace $NS"

# --- 6. the VM -----------------------------------------------------------------
q0=$(date +%s)
bg qemu qemu-system-x86_64 -accel tcg -m 1536 -smp 2 -no-reboot \
	-display none -vga none -monitor none -serial "file:$work/serial.log" \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
	-device "virtio-net-pci,netdev=n0,mac=$NODE_MAC" -boot n
say "qemu started (TCG, 1536 MiB, no disk); serial log $work/serial.log"

status=
marker=
last=
while [ $(($(date +%s) - q0)) -lt "$TIMEOUT" ]; do
	kill -0 "${pids[-1]}" 2>/dev/null || die "qemu exited"
	status=$(nsx "$repo/bin/luna" node list -o json 2>/dev/null | grep -Eo '"step": *"[^"]*"' | head -n1 | sed 's/.*: *"//; s/"$//') || true
	if [ -n "$status" ] && [ "$status" != "$last" ]; then
		say "node001 status: $status"
		last=$status
	fi
	case $status in install.error*) die "node001 reported $status" ;; esac
	if [ "$status" = install.success ]; then
		marker=$(nsx curl -fsS --max-time 3 "http://$node_ip:$MARKER_PORT/" 2>/dev/null) || marker=
		if [ -n "$marker" ]; then break; fi
	fi
	sleep 2
done
[ "$status" = install.success ] || die "node001 did not reach install.success within $TIMEOUT s (last status: ${status:-none})"
case $marker in
"lunavm-booted node001"*) ;;
*) die "the booted image did not answer on http://$node_ip:$MARKER_PORT/ within $TIMEOUT s (got: ${marker:-nothing})" ;;
esac
say "booted image answers on $node_ip: $(echo "$marker" | head -n1)"
# The tarball came over BitTorrent from ltorrent, not from lweb's web seed
# (ltorrent-client's fallback when it finds no peer).
if grep -Eq "uri=\"?/torrents/[^ ]*\.tgz[^ ]* .*client=$node_ip" "$work/lweb.log"; then
	die "node001 fetched the tarball from lweb's web seed, not from ltorrent: $(grep -Ec "uri=\"?/torrents/[^ ]*\.tgz" "$work/lweb.log") requests"
fi
say "the tarball came from ltorrent over BitTorrent (no web seed request in lweb's log)"
say "PASS: qemu start to the marker in $(($(date +%s) - q0)) s, whole run $(($(date +%s) - t0)) s"
}
main "$@"
