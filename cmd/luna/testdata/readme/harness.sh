#!/usr/bin/env bash
# Runs README.md's Getting started block (cmd/luna readme_test.go) in a
# throwaway copy of this machine's root: an overlay of / whose writes go
# to a tmpfs, in the mount namespace `unshare --mount` made for this
# script, so useradd, /usr/local, /opt/luna, /etc and /tftpboot are real
# and vanish with the namespace. With READMETEST_NET=1 (unshare --net
# --pid --fork) it has a loopback of its own for the daemons, which end
# with it. Arguments: the work directory (standins.sh, block.sh and
# checks.sh in it) and the repository.
set -euo pipefail
dir=$1 repo=$2
# The server the README assumes has 10.30.255.254 on its provisioning
# interface (the namespace's loopback here).
if [ "${READMETEST_NET:-}" = 1 ]; then
	ip link set lo up
	ip addr add 10.30.255.254/32 dev lo
fi
mkdir -p "$dir/rw" "$dir/root"
mount -t tmpfs -o size=2g rd-readme "$dir/rw"
mkdir "$dir/rw/upper" "$dir/rw/work"
mount -t overlay rd-readme -o "lowerdir=/,upperdir=$dir/rw/upper,workdir=$dir/rw/work" "$dir/root"
mount -t proc proc "$dir/root/proc"
mount --rbind /sys "$dir/root/sys"
mount --rbind /dev "$dir/root/dev"
mount -t tmpfs rd-run "$dir/root/run"
# shellcheck disable=SC2016 # expanded by the inner shell
exec chroot "$dir/root" /bin/bash -c 'set -euo pipefail; cd "$1"; . "$2/standins.sh"; set -x; . "$2/block.sh"; set +x; . "$2/checks.sh"' readme "$repo" "$dir"
