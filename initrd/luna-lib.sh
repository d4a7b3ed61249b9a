#!/bin/bash
# Functions of the Luna installer in the initramfs (dracut module 95luna),
# installed as /lib/luna-lib.sh and sourced by /sbin/luna-installer. Kept
# free of side effects at load time so that tests can source it.

# luna_mac_match NICADDR MAC: whether the hardware address of a NIC is the
# boot MAC. A 17-character address (Ethernet) must match exactly. A longer
# one (InfiniBand, 20 bytes) matches when the octets of MAC appear in order
# in it, scanning both from the end, and the last octets are equal (Luna
# 1.2's rule, anchored at the end: the MAC derived from a port GUID leaves
# out some of its middle octets).
luna_mac_match() {
    local nic mac
    nic=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
    mac=$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')
    [ -n "$nic" ] && [ -n "$mac" ] || return 1
    if [ "${#nic}" -le 17 ]; then
        [ "$nic" = "$mac" ]
        return
    fi
    local -a n m
    IFS=: read -r -a n <<<"$nic"
    IFS=: read -r -a m <<<"$mac"
    local i=$((${#n[@]} - 1)) j=$((${#m[@]} - 1))
    [ "${n[$i]}" = "${m[$j]}" ] || return 1
    while [ "$i" -ge 0 ] && [ "$j" -ge 0 ]; do
        if [ "${n[$i]}" = "${m[$j]}" ]; then
            j=$((j - 1))
        fi
        i=$((i - 1))
    done
    [ "$j" -lt 0 ]
}

# luna_find_nic MAC [SYSCLASSNET]: prints the name of the interface whose
# address matches MAC (loopback skipped); fails when there is none.
luna_find_nic() {
    local mac=$1 dir=${2:-/sys/class/net} path name addr
    for path in "$dir"/*; do
        name=${path##*/}
        [ "$name" = lo ] && continue
        [ -r "$path/address" ] || continue
        read -r addr <"$path/address" || continue
        if luna_mac_match "$addr" "$mac"; then
            printf '%s\n' "$name"
            return 0
        fi
    done
    return 1
}

# luna_url_host URL: the host part of a URL, without brackets or port.
luna_url_host() {
    local h=${1#*://}
    h=${h%%/*}
    h=${h%%\?*}
    case $h in
    \[*) h=${h#\[}; h=${h%%\]*} ;;
    *) h=${h%:*} ;;
    esac
    printf '%s\n' "$h"
}

# luna_is_ip ADDR: whether ADDR is an IPv4 or IPv6 address (not a name).
luna_is_ip() {
    case $1 in
    *:*) return 0 ;;
    *[!0-9.]* | '') return 1 ;;
    *) return 0 ;;
    esac
}

# luna_install_url URL NODE TOKEN [STATUS]: the install request (or a status
# report) for a node: <luna.url>?step=install&node=NODE&token=TOKEN.
luna_install_url() {
    local u="$1?step=install&node=$2"
    [ -n "$3" ] && u="$u&token=$3"
    [ -n "$4" ] && u="$u&status=$4"
    printf '%s\n' "$u"
}

# luna_report URL NODE TOKEN STATUS: reports a status to lweb; best effort.
luna_report() {
    curl -s -o /dev/null -m 10 --connect-timeout 5 "$(luna_install_url "$1" "$2" "$3" "$4")" || true
}

# luna_fetch URL OUT: downloads URL into OUT. Prints the HTTP code (000 when
# the server was not reached) and fails unless it was 2xx.
luna_fetch() {
    local code
    code=$(curl -sS -o "$2.part" -w '%{http_code}' -m 60 --connect-timeout 10 "$1") || code=${code:-000}
    case $code in
    2??) mv -f "$2.part" "$2"; printf '%s\n' "$code"; return 0 ;;
    esac
    rm -f "$2.part"
    printf '%s\n' "$code"
    return 1
}

# luna_prefix_of NETMASK: the prefix length of a dotted IPv4 netmask.
luna_prefix_of() {
    local IFS=. octet bits=0
    for octet in $1; do
        case $octet in
        255) bits=$((bits + 8)) ;;
        254) bits=$((bits + 7)) ;;
        252) bits=$((bits + 6)) ;;
        248) bits=$((bits + 5)) ;;
        240) bits=$((bits + 4)) ;;
        224) bits=$((bits + 3)) ;;
        192) bits=$((bits + 2)) ;;
        128) bits=$((bits + 1)) ;;
        esac
    done
    printf '%s\n' "$bits"
}

# luna_resolv [DOMAIN] SERVER...: writes /etc/resolv.conf.
luna_resolv() {
    local domain=$1 s
    shift
    {
        [ -n "$domain" ] && printf 'search %s\n' "$domain"
        for s in "$@"; do
            printf 'nameserver %s\n' "$s"
        done
    } >/etc/resolv.conf
}
