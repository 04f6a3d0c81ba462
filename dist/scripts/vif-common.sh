# Sourced by vif-bridge, vif-route and vif-nat (and by users' own vif
# scripts, as on Xen). After it:
#   command   online | offline (a PV vif) or add | remove (an emulated tap)
#   type_if   vif | tap
#   dev       the host interface (vif<domid>.<devid>, or vifname= once renamed)
#   ip        the guest's addresses (xenstore's ip key, else ip=)
#   vifname, mac, bridge, netdev, gatewaydev as given in the environment or
#   as name=value arguments, overridden by xenstore where the script reads it.

dir=$(dirname "${BASH_SOURCE[0]}")
. "$dir/xen-hotplug-common.sh"
. "$dir/xen-network-common.sh"

findCommand "$@"
case "$command" in
    online | offline | add | remove) ;;
    *)
        log err "Invalid command: $command"
        exit 1
        ;;
esac
evalVariables "$@"

: "${type_if:=vif}"
case "$type_if" in
    vif) dev=${vif:-} ;;
    tap) dev=${INTERFACE:-} ;;
    *)
        log err "unknown interface type $type_if"
        exit 1
        ;;
esac

# online/offline are for PV vifs, add/remove for emulated taps.
case "$command" in
    online | offline) [ "$type_if" = vif ] || exit 0 ;;
    add | remove) [ "$type_if" = tap ] || exit 0 ;;
esac

# rename_vif <dev> <name>: vifname= gives the interface the user's name; an
# interface that already has it belongs to someone else.
rename_vif() {
    if ip link show dev "$2" >/dev/null 2>&1; then
        fatal "Cannot rename interface $1. An interface with name $2 already exists."
    fi
    do_or_die ip link set dev "$1" name "$2"
}

if [ "$type_if" = vif ]; then
    [ -n "${XENBUS_PATH:-}" ] || { log err "XENBUS_PATH is not set"; exit 1; }
    [ -n "$dev" ] || fatal "vif is not set"
    vifname=$(xenstore_read_default "$XENBUS_PATH/vifname" "")
    if [ -n "$vifname" ]; then
        if [ "$command" = online ] && [ "$dev" != "$vifname" ]; then
            rename_vif "$dev" "$vifname"
        fi
        dev=$vifname
    fi
else
    # An emulated NIC's tap is named vif<domid>.<devid>-emu.
    [ -n "$dev" ] || { log err "INTERFACE is not set"; exit 1; }
    _tap=${dev#vif}
    _tap=${_tap%-emu}
    XENBUS_PATH=${XENBUS_PATH:-/local/domain/0/backend/vif/${_tap%.*}/${_tap#*.}}
    vifname=$(xenstore_read_default "$XENBUS_PATH/vifname" "")
    if [ -n "$vifname" ]; then
        vifname=$vifname-emu
        [ "$command" = add ] && rename_vif "$dev" "$vifname"
        dev=$vifname
    fi
fi

ip=${ip:-}
ip=$(xenstore_read_default "$XENBUS_PATH/ip" "$ip")

# ip_of <dev>: the interface's primary IPv4 address.
ip_of() {
    ip -4 -o addr show primary dev "$1" 2>/dev/null |
        awk '$3 == "inet" { split($4, a, "/"); print a[1]; exit }'
}

# dom0_ip: the host's address on netdev= (default eth0), for routed vifs.
dom0_ip() {
    local nd=${netdev:-eth0} result
    result=$(ip_of "$nd")
    [ -n "$result" ] ||
        fatal "$nd is not up. Bring it up or specify another interface with netdev=<if> as a parameter to $0."
    printf '%s\n' "$result"
}

# handle_iptable: when iptables works, lets the guest's addresses (or
# anything, with no ip=) through FORWARD on this port, as Xen's scripts do.
# Without a working iptables there is nothing to do.
frob_iptable() {
    local c=-D
    [ "$command" = online ] || [ "$command" = add ] && c=-I
    if ! { iptables -w "$c" FORWARD -m physdev --physdev-is-bridged --physdev-in "$dev" "$@" \
               -j ACCEPT 2>/dev/null &&
           iptables -w "$c" FORWARD -m physdev --physdev-is-bridged --physdev-out "$dev" \
               -j ACCEPT 2>/dev/null; }; then
        [ "$c" = -I ] && log err "iptables setup failed. This may affect guest networking."
    fi
    return 0
}
handle_iptable() {
    command -v iptables >/dev/null 2>&1 || return 0
    iptables -w -L -n >/dev/null 2>&1 || return 0
    claim_lock iptables
    if [ -n "$ip" ]; then
        local addr
        for addr in $ip; do frob_iptable -s "$addr"; done
        frob_iptable -p udp --sport 68 --dport 67  # DHCP, always
    else
        frob_iptable
    fi
    release_lock iptables
}
