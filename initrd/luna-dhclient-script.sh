#!/bin/bash
# dhclient's configuration script in the Luna initramfs (dhclient -sf):
# applies an IPv4 lease (address, default route, DNS) to the interface and
# removes it again on release. Installed as /sbin/luna-dhclient-script.
# shellcheck disable=SC2154 # dhclient sets reason, interface and new_*/old_*.

# shellcheck source-path=SCRIPTDIR source=luna-lib.sh
. /lib/luna-lib.sh

case $reason in
PREINIT)
    ip link set dev "$interface" up
    ;;
BOUND | RENEW | REBIND | REBOOT)
    if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
        ip -4 addr flush dev "$interface"
    fi
    prefix=$(luna_prefix_of "${new_subnet_mask:-255.255.255.0}")
    ip -4 addr replace "$new_ip_address/$prefix" dev "$interface" \
        ${new_broadcast_address:+broadcast "$new_broadcast_address"}
    for router in $new_routers; do
        ip -4 route replace default via "$router" dev "$interface" && break
    done
    if [ -n "$new_domain_name_servers" ]; then
        # shellcheck disable=SC2086 # one argument per server
        luna_resolv "${new_domain_search:-$new_domain_name}" $new_domain_name_servers
    fi
    printf '%s\n' "$interface" >>/luna/luna_ifaces
    ;;
EXPIRE | FAIL | RELEASE | STOP)
    ip -4 addr flush dev "$interface"
    ;;
esac
exit 0
