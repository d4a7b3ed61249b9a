# shellcheck shell=bash
# Every `luna` command of Luna 1.2's README, as printed and in its order
# (cmd/luna readme_test.go runs this file like the Getting started block,
# with the same stand-ins). Its other lines are left out: yum, rpm,
# xinetd, nginx and systemctl (make install and the Getting started do
# that part), curl and wget against lweb (tested in internal/lweb).

# 1.2's RPM made the user and the path.
useradd --system --home-dir /opt/luna --shell /usr/sbin/nologin luna
install -d -o luna -g luna /opt/luna
# "Generate a CentOS image": yum --installroot needs the network; the
# stand-ins make the tree, then the Luna dracut module goes in.
export OSIMAGE_PATH=/opt/luna/os/compute
debootstrap bookworm ${OSIMAGE_PATH}
chroot ${OSIMAGE_PATH} apt-get install -y dracut linux-image-amd64
make install-initrd DESTDIR=${OSIMAGE_PATH}

# "Configure a new luna cluster"
luna cluster init --frontend_address 10.30.255.254
luna network add -n cluster -N 10.30.0.0 -P 16
luna cluster makedhcp --network cluster --start_ip 10.30.128.1 --end_ip 10.30.140.255
luna osimage add -n compute -p ${OSIMAGE_PATH}
luna osimage pack compute
luna bmcsetup add -n base
luna network add -n ipmi -N 10.31.0.0 -P 16
luna switch add -n switch01 --oid .1.3.6.1.2.1.17.7.1.2.2.1.2 --network ipmi --ip 10.31.253.21
luna group add -n compute -o compute -N cluster
luna group change compute -b base
# Never valid in 1.2 (argparse refused it): one line saying what to type, exit 2.
rc=0
luna group change -n compute --bmcnetwork --setnet ipmi 2>err.txt || rc=$?
[ "$rc" = 2 ] || { echo "readme-test: --bmcnetwork exited $rc, want 2" >&2; exit 1; }
[ "$(cat err.txt)" = "luna: error: --bmcnetwork is an option of group add only: type 'luna group change compute -i BMC -A', then 'luna group change compute -i BMC --setnet ipmi'" ] || {
	echo "readme-test: --bmcnetwork said: $(cat err.txt)" >&2
	exit 1
}
luna group change compute -i BMC -A
luna group change compute -i BMC --setnet ipmi
luna node add -g compute
luna cluster makedns
luna node change -n node001 --service y

# "(Optional) Configure storage partitioning": -e reads the script from
# stdin when it is not a terminal (the editor otherwise).
luna group change -n compute --partscript -e <<'PART'
parted /dev/sda -s 'mklabel msdos'
parted /dev/sda -s 'rm 1; rm 2'
parted /dev/sda -s 'mkpart p ext2 1 256m'
parted /dev/sda -s 'mkpart p ext3 256m 100%'
parted /dev/sda -s 'set 1 boot on'

mkfs.ext2 /dev/sda1
mkfs.ext4 /dev/sda2

mount /dev/sda2 /sysroot
mkdir /sysroot/boot
mount /dev/sda1 /sysroot/boot
PART

# "(Optional) Install a bootloader on the nodes using a postscript"
cat << EOF | luna group change -n compute  --post -e
mount -o bind /proc /sysroot/proc
mount -o bind /dev /sysroot/dev
chroot /sysroot /bin/bash -c "/usr/sbin/grub2-mkconfig -o /boot/grub2/grub.cfg; /usr/sbin/grub2-install /dev/sda"
umount /sysroot/dev
umount /sysroot/proc
EOF

# "Add a node to the cluster"
luna node add -g compute
luna node change -n node001 -s switch01
luna node change -n node001 -p 1

# "Check if is working properly"
luna node show node001 --script boot
luna node show node001 --script install

# "Update DHCP and DNS configurations"
luna cluster makedhcp -N cluster -s 10.30.128.1 -e 10.30.140.255
luna cluster makedns

# "Boot a node"
luna node change -n node001 --localboot y
luna node change -n node001 --service y
luna node change -n node001 --setupbmc y
