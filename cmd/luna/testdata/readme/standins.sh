# shellcheck shell=bash
# Stand-ins for the lines of README.md's Getting started that need the
# network or systemd (cmd/luna readme_test.go).
# Sourced before the block: shell functions shadow these commands only
# (each quiet under the block's set -x);
# every other line of the block runs as printed.

# make deps is not run: it installs Debian packages (the network), and
# `make test` runs after it. Every other target (build, install,
# install-initrd) runs, into the throwaway root.
make() {
	local -
	set +x
	case "$1" in
	deps) echo "readme-test: stand-in: make deps not run" ;;
	*) command make "$@" ;;
	esac
}

# systemctl (no systemd in the test): the unit must be installed (make
# install); `enable --now` starts its ExecStart as its User and Group with
# its AmbientCapabilities, StateDirectory and RuntimeDirectory, as systemd
# would, and waits until the daemon says it listens or serves. The
# daemons end with the test's PID namespace.
systemctl() {
	local -
	set +x
	local a now=0 units=()
	for a in "$@"; do
		case $a in
		daemon-reload | enable) ;;
		--now) now=1 ;;
		*) units+=("$a") ;;
		esac
	done
	for a in "${units[@]}"; do
		[ -f "/usr/local/lib/systemd/system/$a.service" ] || {
			echo "readme-test: no unit /usr/local/lib/systemd/system/$a.service" >&2
			return 1
		}
		if [ "$now" = 1 ]; then readme_start_unit "$a" || return 1; fi
	done
	echo "readme-test: stand-in: systemctl $* (started as the units say)"
}

readme_start_unit() {
	local u=$1 f=/usr/local/lib/systemd/system/$1.service user group caps d pid i
	local -a cmd
	user=$(sed -n 's/^User=//p' "$f")
	group=$(sed -n 's/^Group=//p' "$f")
	read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$f")"
	while read -r d; do install -d -o "$user" -g "$group" "/var/lib/$d"; done < <(sed -n 's/^StateDirectory=//p' "$f")
	while read -r d; do install -d -o "$user" -g "$group" "/run/$d"; done < <(sed -n 's/^RuntimeDirectory=//p' "$f")
	caps=$(sed -n 's/^AmbientCapabilities=//p' "$f" | tr 'A-Z ' 'a-z,' | sed 's/cap_/+/g')
	local -a priv=(setpriv "--reuid=$user" "--regid=$group" --init-groups)
	if [ -n "$caps" ]; then priv+=(--inh-caps "$caps" --ambient-caps "$caps"); fi
	"${priv[@]}" -- "${cmd[@]}" >"/var/log/readme-$u.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		if grep -Eq 'listening|serving' "/var/log/readme-$u.log"; then
			echo "readme-test: $u started as $user (pid $pid): ${cmd[*]}"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "readme-test: $u (${cmd[*]} as $user) did not start:" >&2
	cat "/var/log/readme-$u.log" >&2
	return 1
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
