#!/bin/bash
# The Luna installer in the initramfs (dracut module 95luna), run once by the
# initqueue/finished hook when the kernel command line has root=luna.
# Installed as /sbin/luna-installer. It sets the hostname, starts sshd and a
# shell on tty2, brings up the boot network, then either gives a service
# shell or fetches the node's install script from lweb and runs it until it
# succeeds. It tears down what it started before dracut switches root.

# shellcheck source=/dev/null
. /lib/dracut-lib.sh
# shellcheck source-path=SCRIPTDIR source=luna-lib.sh
. /lib/luna-lib.sh

LUNA_RETRY=${LUNA_RETRY:-10} # seconds between attempts

luna_say() {
    printf 'Luna: %s\n' "$*" >&2
    # On the console too when stderr goes elsewhere (the journal).
    [ -w /dev/console ] && [ ! /dev/stderr -ef /dev/console ] && printf 'Luna: %s\n' "$*" >/dev/console
    return 0
}

luna_args() {
    LUNA_URL=$(getarg luna.url=)
    LUNA_NODE=$(getarg luna.node=)
    LUNA_TOKEN=$(getarg luna.token=)
    LUNA_HOSTNAME=$(getarg luna.hostname=)
    LUNA_BOOTPROTO=$(getarg luna.bootproto=)
    LUNA_MAC=$(getarg luna.mac=)
    LUNA_IP=$(getarg luna.ip=)
    LUNA_IP6=$(getarg luna.ip6=)
    LUNA_GW=$(getarg luna.gw=)
    LUNA_GW6=$(getarg luna.gw6=)
    LUNA_DNS=$(getarg luna.dns=)
    LUNA_SERVICE=$(getarg luna.service=)
    LUNA_CTTY=$(getarg luna.ctty=)
    LUNA_CTTY=${LUNA_CTTY:-/dev/tty1}
    case $LUNA_CTTY in /dev/*) ;; *) LUNA_CTTY=/dev/$LUNA_CTTY ;; esac
    LUNA_SERVICE_EXIT=$(getarg luna.service_exit=)
    LUNA_SERVICE_EXIT=${LUNA_SERVICE_EXIT:-reboot}
}

luna_hostname() {
    [ -n "$LUNA_HOSTNAME" ] || return 0
    printf '%s\n' "$LUNA_HOSTNAME" >/proc/sys/kernel/hostname
}

luna_sshd() {
    local sshd
    sshd=$(command -v sshd) || { luna_say "no sshd in the initramfs: no remote access"; return 0; }
    grep -q '^sshd:' /etc/group 2>/dev/null || echo 'sshd:x:74:' >>/etc/group
    grep -q '^sshd:' /etc/passwd 2>/dev/null ||
        echo 'sshd:x:74:74:Privilege-separated SSH:/var/empty/sshd:/sbin/nologin' >>/etc/passwd
    mkdir -p /var/empty/sshd /run/sshd
    chmod 0711 /var/empty/sshd
    "$sshd" -f /etc/ssh/sshd_config -o PidFile=/luna/sshd.pid || luna_say "sshd did not start"
}

# luna_tty2: a root shell on tty2 (Alt+F2), started again when it exits.
luna_tty2() {
    [ -c /dev/tty2 ] || return 0
    command -v setsid >/dev/null || return 0
    setsid bash -c 'while :; do setsid -w -c bash -l <>/dev/tty2 >&0 2>&1; sleep 1; done' \
        </dev/null >/dev/null 2>&1 &
    printf '%s\n' "$!" >/luna/tty2.pid
}

luna_nic_up_static() {
    local nic=$1 host s
    printf '%s\n' "$nic" >/luna/luna_nic
    ip link set dev "$nic" up
    if [ -n "$LUNA_IP" ]; then
        ip -4 addr add "$LUNA_IP" dev "$nic" || luna_say "cannot add $LUNA_IP to $nic"
    fi
    if [ -n "$LUNA_IP6" ]; then
        ip -6 addr add "$LUNA_IP6" dev "$nic" nodad || luna_say "cannot add $LUNA_IP6 to $nic"
    fi
    [ -n "$LUNA_GW" ] && { ip -4 route replace default via "$LUNA_GW" dev "$nic" || luna_say "cannot add the gateway $LUNA_GW"; }
    [ -n "$LUNA_GW6" ] && { ip -6 route replace default via "$LUNA_GW6" dev "$nic" || luna_say "cannot add the gateway $LUNA_GW6"; }
    # DNS: luna.dns=, else the Luna server itself (as its DHCP server says).
    local -a servers=()
    if [ -n "$LUNA_DNS" ]; then
        IFS=, read -r -a servers <<<"$LUNA_DNS"
    else
        host=$(luna_url_host "$LUNA_URL")
        luna_is_ip "$host" && servers=("$host")
    fi
    s=${LUNA_HOSTNAME#*.}
    [ "$s" = "$LUNA_HOSTNAME" ] && s=
    [ "${#servers[@]}" -gt 0 ] && luna_resolv "$s" "${servers[@]}"
    # Let the link come up before the first request.
    local i=0
    while [ "$i" -lt 10 ] && [ "$(cat "/sys/class/net/$nic/operstate" 2>/dev/null)" = down ]; do
        sleep 1
        i=$((i + 1))
    done
    return 0
}

luna_dhcp() {
    local -a ifaces=()
    local path
    for path in /sys/class/net/*; do
        [ "${path##*/}" = lo ] && continue
        ifaces+=("${path##*/}")
    done
    if command -v dhclient >/dev/null; then
        until dhclient -1 -4 -sf /sbin/luna-dhclient-script -lf /luna/dhclient.leases \
            -pf /luna/dhclient.pid "${ifaces[@]}"; do
            luna_say "no DHCP answer on ${ifaces[*]}; retrying in ${LUNA_RETRY}s"
            sleep "$LUNA_RETRY"
        done
    elif command -v dhcpcd >/dev/null; then
        until dhcpcd -4 -w -t 60 "${ifaces[@]}"; do
            luna_say "no DHCP answer on ${ifaces[*]}; retrying in ${LUNA_RETRY}s"
            sleep "$LUNA_RETRY"
        done
        printf '%s\n' "${ifaces[@]}" >/luna/luna_ifaces
    else
        luna_say "neither dhclient nor dhcpcd in the initramfs: no network"
        return 1
    fi
    # The boot interface is the one that reaches the Luna server.
    local host dev
    host=$(luna_url_host "$LUNA_URL")
    dev=$(ip route get "$host" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)
    [ -n "$dev" ] && printf '%s\n' "$dev" >/luna/luna_bootif
    return 0
}

luna_network() {
    udevadm settle --timeout=30 2>/dev/null || true
    local nic
    if [ "$LUNA_BOOTPROTO" = static ] && [ -n "$LUNA_MAC" ]; then
        if nic=$(luna_find_nic "$LUNA_MAC"); then
            luna_say "boot interface $nic ($LUNA_MAC): ${LUNA_IP:-} ${LUNA_IP6:-}"
            luna_nic_up_static "$nic"
            printf '%s\n' "$nic" >/luna/luna_bootif
            return 0
        fi
        luna_say "no interface with address $LUNA_MAC; using DHCP"
    fi
    luna_dhcp
}

# luna_service: a shell on luna.ctty; when it ends, the node is rebooted (or
# powered off with luna.service_exit=poweroff) instead of going on to an
# empty /sysroot and dracut's emergency shell.
luna_service() {
    luna_say "Entering Service mode (shell on $LUNA_CTTY)"
    setsid -w -c bash -l <>"$LUNA_CTTY" >&0 2>&1 || luna_say "the service shell on $LUNA_CTTY ended with status $?"
    luna_finish
    luna_say "service mode ended: $LUNA_SERVICE_EXIT"
    sync
    if mountpoint -q /sysroot 2>/dev/null; then
        umount -R /sysroot 2>/dev/null || umount -l /sysroot 2>/dev/null
    fi
    case $LUNA_SERVICE_EXIT in
    poweroff) luna_sysrq o ;;
    *) luna_sysrq b ;;
    esac
}

# luna_sysrq KEY: reboot (b) or power off (o) at once, file systems synced.
# LUNA_SYSRQ_TRIGGER names another file than /proc/sysrq-trigger (tests).
luna_sysrq() {
    if [ -n "${LUNA_SYSRQ_TRIGGER:-}" ]; then
        echo "$1" >"$LUNA_SYSRQ_TRIGGER"
        return 0
    fi
    echo 1 >/proc/sys/kernel/sysrq
    echo "$1" >/proc/sysrq-trigger
    sleep 30
}

# luna_install: fetch the install script and run it until it succeeds. The
# script records the steps it finished in /luna/install.state, so a retry
# does not repartition or reset the BMC again.
luna_install() {
    local url code rc attempt=0
    url=$(luna_install_url "$LUNA_URL" "$LUNA_NODE" "$LUNA_TOKEN")
    if [ -s /luna/luna_bootif ]; then
        LUNA_BOOTIF=$(cat /luna/luna_bootif)
        export LUNA_BOOTIF
    fi
    while :; do
        attempt=$((attempt + 1))
        if ! code=$(luna_fetch "$url" /luna/install.sh); then
            case $code in
            000) luna_say "cannot reach ${LUNA_URL} (attempt $attempt); retrying in ${LUNA_RETRY}s" ;;
            404) luna_say "no install script for $LUNA_NODE: HTTP 404 (is its osimage packed?); retrying in ${LUNA_RETRY}s"
                luna_report "$LUNA_URL" "$LUNA_NODE" "$LUNA_TOKEN" install.error.fetch ;;
            *) luna_say "no install script for $LUNA_NODE: HTTP $code; retrying in ${LUNA_RETRY}s"
                luna_report "$LUNA_URL" "$LUNA_NODE" "$LUNA_TOKEN" install.error.fetch ;;
            esac
            sleep "$LUNA_RETRY"
            continue
        fi
        /bin/bash /luna/install.sh
        rc=$?
        if [ "$rc" -eq 0 ]; then
            if [ -e /sysroot/sbin/init ] || [ -L /sysroot/sbin/init ] || [ -n "$(getarg init=)" ]; then
                return 0
            fi
            rc=no-init
            luna_report "$LUNA_URL" "$LUNA_NODE" "$LUNA_TOKEN" install.error.noinit
            luna_say "the install script succeeded but /sysroot has no /sbin/init"
        fi
        luna_say "the install script failed (exit $rc, attempt $attempt); retrying in ${LUNA_RETRY}s"
        sleep "$LUNA_RETRY"
    done
}

# luna_finish stops what the installer started, so the installed system
# starts from a clean slate: sshd and its sessions, the DHCP client, the boot
# addresses and the tty2 shell.
luna_finish() {
    local pid dev
    if [ -s /luna/sshd.pid ]; then
        pid=$(cat /luna/sshd.pid)
        pkill -P "$pid" 2>/dev/null
        kill "$pid" 2>/dev/null
    fi
    if [ -s /luna/dhclient.pid ]; then
        dhclient -x -sf /sbin/luna-dhclient-script -lf /luna/dhclient.leases -pf /luna/dhclient.pid 2>/dev/null
    elif command -v dhcpcd >/dev/null && [ -s /luna/luna_ifaces ]; then
        dhcpcd -x 2>/dev/null
    fi
    cat /luna/luna_nic /luna/luna_ifaces 2>/dev/null | sort -u | while read -r dev; do
        ip addr flush dev "$dev" 2>/dev/null
        ip link set dev "$dev" down 2>/dev/null
    done
    if [ -s /luna/tty2.pid ]; then
        kill "$(cat /luna/tty2.pid)" 2>/dev/null
        pkill -9 -t tty2 2>/dev/null
        for pid in $(fuser /dev/tty2 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null
        done
    fi
    rm -f /luna/dhclient.leases /luna/sshd.pid /luna/dhclient.pid /luna/tty2.pid
    return 0
}

luna_main() {
    mkdir -p /luna
    luna_args
    echo "Welcome to Luna Installer"
    # Before the torrent client starts: its peer id is the hostname.
    luna_hostname
    luna_sshd
    luna_tty2
    luna_network
    if [ "$LUNA_SERVICE" = 1 ]; then
        luna_service
        return 0
    fi
    luna_install
    luna_finish
    echo "Exit from Luna Installer"
}

luna_main "$@"
