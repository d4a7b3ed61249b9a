#!/bin/bash
# dracut module 95luna: the Luna node installer. `luna osimage pack` runs
# dracut inside the osimage with `--add luna`; the node then boots that
# initramfs with root=luna and the luna.* kernel arguments (docs/initrd.md).
# shellcheck disable=SC2154 # moddir, initdir and dracutsysrootdir come from dracut.

# Only on request (dracut --add luna): an image's own initramfs for its
# local disk does not need the installer.
check() {
    return 255
}

depends() {
    echo bash udev-rules
    return 0
}

# The node's hardware is not the build host's: every Ethernet and
# InfiniBand driver, the IPMI drivers bmcsetup loads and the filesystems
# partscripts make.
installkernel() {
    hostonly='' instmods '=drivers/net' '=drivers/infiniband'
    hostonly='' instmods ipmi_devintf ipmi_si ipmi_msghandler
    hostonly='' instmods ext4 xfs vfat btrfs
    return 0
}

# luna_client_source prints the path of ltorrent-client in the image: the
# packaged place (/usr/lib/luna, installed by `make install-initrd`) first.
# LUNA_LTORRENT_CLIENT names another file (tests, a build tree).
luna_client_source() {
    local f
    if [ -n "${LUNA_LTORRENT_CLIENT:-}" ]; then
        [ -x "$LUNA_LTORRENT_CLIENT" ] || return 1
        printf '%s\n' "$LUNA_LTORRENT_CLIENT"
        return 0
    fi
    for f in /usr/lib/luna/ltorrent-client /usr/sbin/ltorrent-client /usr/bin/ltorrent-client; do
        if [ -x "${dracutsysrootdir:-}$f" ]; then
            printf '%s\n' "$f"
            return 0
        fi
    done
    return 1
}

install() {
    local f client
    # Without the client no node can install: stop the build.
    client=$(luna_client_source) || {
        dfatal "95luna: no ltorrent-client in the image (/usr/lib/luna/ltorrent-client${LUNA_LTORRENT_CLIENT:+ or $LUNA_LTORRENT_CLIENT}); install it with make install-initrd DESTDIR=<image>"
        exit 1
    }

    # What the installer and every install script need.
    inst_multiple bash curl tar gzip ip sed grep tr cat sort head mkdir rm mv chmod sleep kill setsid
    # What install scripts, partscripts and an admin in the shell may use.
    inst_multiple -o sshd ssh scp dhclient dhcpcd udevadm ipmitool modprobe \
        parted partx sgdisk sfdisk wipefs blkdiscard fstrim dd lsblk blkid findmnt mountpoint mount umount \
        mkfs mkfs.ext2 mkfs.ext3 mkfs.ext4 mkfs.xfs mkfs.vfat mkfs.btrfs mkswap \
        pigz zcat awk find basename chroot pkill fuser ps hostname ping wget getent \
        getfattr setfattr getfacl setfacl getcap setcap dmidecode lspci less vi
    # OpenSSH 9.8 and later run sessions in a helper binary.
    inst_multiple -o /usr/lib/openssh/sshd-session /usr/libexec/openssh/sshd-session \
        /usr/lib/openssh/sshd-auth /usr/libexec/openssh/sshd-auth
    # Users and name resolution; CA bundles for curl over HTTPS.
    inst_libdir_file "libnss_files*" "libnss_dns*"
    inst_multiple -o /etc/nsswitch.conf /etc/pki/tls/certs/ca-bundle.crt \
        /etc/ssl/certs/ca-certificates.crt /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem

    inst_hook cmdline 99 "$moddir/luna-parse-cmdline.sh"
    inst_hook initqueue/finished 99 "$moddir/luna-start.sh"
    inst_simple "$moddir/luna-lib.sh" /lib/luna-lib.sh
    inst_script "$moddir/luna-installer.sh" /sbin/luna-installer
    inst_script "$moddir/luna-dhclient-script.sh" /sbin/luna-dhclient-script
    chmod 0755 "$initdir/sbin/luna-installer" "$initdir/sbin/luna-dhclient-script"
    inst_simple "$moddir/sshd_config" /etc/ssh/sshd_config
    inst_simple "$moddir/bashrc" /root/.bashrc
    printf '%s\n' '[ -f ~/.bashrc ] && . ~/.bashrc' >"$initdir/root/.bash_profile"

    # The image's SSH host keys and root's keys, so that ssh to a node in
    # the installer is ssh to the node.
    for f in rsa ecdsa ed25519; do
        inst_multiple -o "/etc/ssh/ssh_host_${f}_key" "/etc/ssh/ssh_host_${f}_key.pub"
    done
    if [ -e "${dracutsysrootdir:-}/root/.ssh/authorized_keys" ]; then
        inst_dir /root/.ssh
        chmod 0700 "$initdir/root/.ssh"
        inst_simple /root/.ssh/authorized_keys
    fi

    inst_dir /luna
    inst_simple "$client" /luna/ltorrent-client
    chmod 0755 "$initdir/luna/ltorrent-client"
    return 0
}
