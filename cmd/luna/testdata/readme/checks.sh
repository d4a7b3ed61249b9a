# shellcheck shell=bash
# What the Getting started block must have left (cmd/luna readme_test.go),
# checked in the throwaway root before it vanishes.
fail() {
	echo "readme-test: FAIL: $*" >&2
	exit 1
}
id luna >/dev/null || fail "no user luna"
[ "$(stat -c %U /opt/luna)" = luna ] || fail "/opt/luna is not owned by luna"
ls /opt/luna/torrents/*.tgz /opt/luna/torrents/*.torrent >/dev/null || fail "no tarball and torrent in /opt/luna/torrents"
initrd=/opt/luna/boot/compute-initramfs-6.1.0-99-readme
[ -s /opt/luna/boot/compute-vmlinuz-6.1.0-99-readme ] || fail "no kernel in /opt/luna/boot"
files=$(cpio -it <"$initrd" 2>/dev/null) || fail "cpio cannot read $initrd"
grep -qE '(^|/)sbin/luna-installer$' <<<"$files" || fail "$initrd lacks the Luna dracut module's installer"
grep -qE '(^|/)luna/ltorrent-client$' <<<"$files" || fail "$initrd lacks ltorrent-client"
grep -q 'hardware ethernet 00:11:22:33:44:55' /etc/dhcp/dhcpd.conf || fail "/etc/dhcp/dhcpd.conf has no host entry for node001"
dhcpd -t -cf /etc/dhcp/dhcpd.conf >/dev/null 2>&1 || fail "dhcpd -t rejects /etc/dhcp/dhcpd.conf"
grep -q '/var/lib/bind/luna/cluster.luna.zone' /etc/bind/named.luna.zones || fail "/etc/bind/named.luna.zones does not name the cluster zone"
named-checkzone cluster /var/lib/bind/luna/cluster.luna.zone >/dev/null || fail "named-checkzone rejects the cluster zone"
for f in luna_undionly.kpxe luna_ipxe.efi; do [ -s "/tftpboot/$f" ] || fail "no /tftpboot/$f"; done
# The daemons, started as their units say, answer.
boot=$(curl -fsS --max-time 10 'http://127.0.0.1:7050/luna?step=boot') || fail "lweb does not answer on :7050"
[ "$(head -n1 <<<"$boot")" = '#!ipxe' ] || fail "lweb's boot script does not start with #!ipxe: $boot"
pgrep -u luna -x ltorrent >/dev/null || fail "ltorrent is not running as luna"
pgrep -u luna -x lunadb >/dev/null || fail "lunadb is not running as luna"
grep -q 'msg=seeding .*referenced=true' /var/log/readme-ltorrent.log || fail "ltorrent does not seed the packed image"
grep -q 'msg=announced .*event=started' /var/log/readme-ltorrent.log || fail "ltorrent did not announce to lweb's tracker"
! grep -Eq 'WARN|ERROR' /var/log/readme-lunadb.log || fail "lunadb logged a warning or an error at its default level"
for u in lunadb lweb ltorrent; do
	echo "readme-test: /var/log/readme-$u.log:"
	sed 's/^/    /' "/var/log/readme-$u.log"
done
echo "readme-test: checks passed"
