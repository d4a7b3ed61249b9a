#!/bin/bash
# node.sh: one simulated node, chrooted in its root by enter.sh. First what
# the firmware does (its address from DHCP, then iPXE's discovery
# by MAC and the kernel and initrd downloads the boot script names), then
# what the initramfs does: dracut's cmdline hook and Luna's start hook run
# the real Luna installer (initrd/luna-installer.sh), which brings the boot
# interface up from the kernel arguments, fetches the install script with
# the node's token and runs it until the image is in /sysroot.
set -u
say() { printf '%s node: %s\n' "$(date +%T.%3N)" "$*"; }

# Firmware: DHCP gives the node its own address (the fixed address of
# `luna cluster makedhcp`; set here without a DHCP server), then iPXE.
ip link set dev lo up
ip link set dev eth0 up
ip -4 addr add "$DEMO_DHCP_IP" dev eth0
mac=$(cat /sys/class/net/eth0/address)
say "iPXE: discovery as $mac from $DEMO_DHCP_IP"
# As iPXE's menu: a boot script that cannot boot (no kernel yet: lweb
# reloads its boot data within half a second of a change) is an error, and
# the menu asks again after a pause; here 1 s, at most 30 times.
for attempt in $(seq 30); do
    until curl -fsS -m 10 --connect-timeout 5 -o /luna/boot.ipxe \
        "$DEMO_URL/luna?step=discovery&hwdata=%7C${mac}%7C"; do
        say "no answer to discovery; retrying in 1s"
        sleep 1
    done
    kernel=$(sed -n 's/^imgfetch -n kernel \(.*\)$/\1/p' /luna/boot.ipxe)
    initrd=$(sed -n 's/^imgfetch \([^-].*\)$/\1/p' /luna/boot.ipxe)
    args=$(sed -n 's/^imgargs kernel \(.*\)$/\1/p' /luna/boot.ipxe)
    [ -n "$kernel" ] && [ -n "$initrd" ] && [ -n "$args" ] && break
    say "the boot script names no kernel (attempt $attempt):"
    cat /luna/boot.ipxe
    [ "$attempt" = 30 ] && exit 1
    sleep 1
done
curl -fsS -m 60 -o /luna/vmlinuz "$kernel" || exit 1
curl -fsS -m 60 -o /luna/initrd "$initrd" || exit 1
say "iPXE: kernel $(wc -c </luna/vmlinuz) bytes, initrd $(wc -c </luna/initrd) bytes"

# The kernel starts: the firmware's address is gone, the command line is
# what iPXE passed.
ip -4 addr flush dev eth0
printf '%s\n' "$args" >/luna/cmdline
say "kernel: $args"

# The initramfs: 99-luna-parse-cmdline.sh and 99-luna-start.sh.
# shellcheck source-path=SCRIPTDIR source=dracut-lib.sh
. /luna/dracut-lib.sh
if [ "$(getarg root=)" != luna ]; then
    say "root=luna is not on the kernel command line"
    exit 1
fi
/bin/bash /luna/luna-installer || exit 1

# What the node would boot: the checksum list of /sysroot.
/bin/bash /luna/sums.sh /sysroot >/luna/sums || exit 1
cat /proc/sys/kernel/hostname >/luna/hostname
say "installed; switch_root to /sysroot"
