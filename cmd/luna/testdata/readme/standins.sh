# shellcheck shell=bash
# Stand-ins for the lines of README.md's Getting started that need the
# network, or would run what the test does not (cmd/luna readme_test.go).
# Sourced before the block: shell functions shadow these commands only
# (each quiet under the block's set -x);
# every other line of the block runs as printed.

# make deps, make build and make install are not run: the test binary is
# this tree's build, and `go test ./contrib/systemd/` tests make install.
# Any other target (install-initrd) runs.
make() {
	local -
	set +x
	case "$1" in
	deps | build | install) echo "readme-test: stand-in: make $1 not run" ;;
	*) command make "$@" ;;
	esac
}

# systemctl: the units must exist in contrib/systemd (make install installs
# them); nothing is started (the database is the test's embedded FerretDB).
systemctl() {
	local -
	set +x
	local a
	for a in "$@"; do
		case $a in
		daemon-reload | enable | --now) ;;
		*) [ -f "contrib/systemd/$a.service" ] || {
			echo "readme-test: no unit contrib/systemd/$a.service" >&2
			return 1
		} ;;
		esac
	done
	echo "readme-test: stand-in: systemctl $* not run"
}

# debootstrap needs the network: the target becomes a file system of its
# own (so the /usr bind-mounted below is a different one, left out of the
# tarball) holding a Debian-like skeleton: merged /usr, root in passwd.
debootstrap() {
	local -
	set +x
	local a args=()
	for a in "$@"; do
		case $a in -*) ;; *) args+=("$a") ;; esac
	done
	local target=${args[1]}
	mkdir -p "$target"
	mount -t tmpfs rd-image "$target"
	mkdir -p "$target"/{boot,dev,etc,proc,root,run,sys,tmp,usr,var/tmp}
	chmod 1777 "$target/tmp" "$target/var/tmp"
	for a in bin lib lib64 sbin; do ln -s "usr/$a" "$target/$a"; done
	echo 'root:x:0:0:root:/root:/bin/bash' >"$target/etc/passwd"
	echo 'root:x:0:' >"$target/etc/group"
	echo "readme-test: stand-in: debootstrap made a skeleton in $target"
}

# apt-get install dracut linux-image-amd64 in the image needs the network:
# the image gets this machine's /usr (its dracut, bash, udev) bind-mounted,
# an empty kernel file with a modules directory, and a dracut configuration
# with no kernel modules (the kernel is a stand-in) and few dracut modules
# (a small, quick initramfs). Any other chroot runs.
chroot() {
	local -
	set +x
	case " $* " in
	*" apt-get install "*) ;;
	*)
		command chroot "$@"
		return
		;;
	esac
	local root=$1 kver=6.1.0-99-readme
	mount --bind /usr "$root/usr"
	mkdir -p "/usr/lib/modules/$kver" "$root/etc/dracut.conf.d"
	echo "stand-in kernel" >"$root/boot/vmlinuz-$kver"
	cp /etc/ld.so.cache "$root/etc/"
	printf '%s\n' 'no_kernel="yes"' 'dracutmodules=" bash udev-rules "' 'compress="cat"' >"$root/etc/dracut.conf.d/99-readme-test.conf"
	echo "readme-test: stand-in: kernel $kver and dracut in $root"
}
