#!/bin/bash
# enter.sh ROOT: run by lunademo in a node's network namespace, in a mount
# and UTS namespace of its own (unshare), so every mount below and the
# hostname the installer sets stay with the node and vanish with it. The
# node's root is ROOT: the host's programs read-only, its own /etc, /luna
# and /sysroot, a /dev with only the harmless devices (no consoles or ttys
# for the installer to take over). Then node.sh runs chrooted there.
set -eu
R=$1
for d in usr lib32 libx32; do
    if [ -d "/$d" ] && [ ! -L "/$d" ]; then
        mkdir -p "$R/$d"
        mount --bind "/$d" "$R/$d"
        mount -o remount,bind,ro "$R/$d"
    fi
done
for d in bin sbin lib lib64; do
    if [ -L "/$d" ]; then
        ln -sfn "$(readlink "/$d")" "$R/$d"
    elif [ -d "/$d" ]; then
        mkdir -p "$R/$d"
        mount --bind "/$d" "$R/$d"
        mount -o remount,bind,ro "$R/$d"
    fi
done
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
for n in null zero full random urandom; do
    : >"$R/dev/$n"
    mount --bind "/dev/$n" "$R/dev/$n"
done
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
exec chroot "$R" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LUNA_RETRY="${LUNA_RETRY:-2}" DEMO_URL="$DEMO_URL" DEMO_DHCP_IP="$DEMO_DHCP_IP" \
    /bin/bash /luna/node.sh
