# Network helpers of the vif scripts (sourced): the command and name=value
# arguments, and bridge ports with iproute2 (ip, bridge) only.

# findCommand "$@": the first argument that is not name=value is the command.
# shellcheck disable=SC2034  # command is for the scripts that source us
findCommand() {
    local arg
    command=
    for arg in "$@"; do
        case "$arg" in
            *=*) ;;
            *) command=$arg; return 0 ;;
        esac
    done
}

# evalVariables "$@": name=value arguments become variables (netdev=eth1,
# bridge=br0 ...). Only shell names are accepted: the values are data.
evalVariables() {
    local arg name
    for arg in "$@"; do
        case "$arg" in
            *=*)
                name=${arg%%=*}
                if [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
                    printf -v "$name" '%s' "${arg#*=}"
                fi
                ;;
        esac
    done
}

# A guest's port: down, no addresses, and the MAC the bridge never elects
# as its own (fe:ff:ff:ff:ff:ff is above every guest's 00:16:3e:...).
setup_virtual_bridge_port() {
    local dev=$1
    ip link set dev "$dev" down
    ip link set dev "$dev" address fe:ff:ff:ff:ff:ff || true
    ip address flush dev "$dev"
}

setup_physical_bridge_port() {
    ip link set dev "$1" down
    ip address flush dev "$1"
}

create_bridge() {
    local bridge=$1
    [ -e "/sys/class/net/$bridge/bridge" ] && return 0
    ip link add name "$bridge" type bridge stp_state 0 forward_delay 0
}

add_to_bridge() {
    local bridge=$1 dev=$2
    if [ ! -e "/sys/class/net/$bridge/brif/$dev" ]; then
        log debug "adding $dev to bridge $bridge"
        ip link set dev "$dev" master "$bridge"
    fi
    ip link set dev "$dev" up
}

remove_from_bridge() {
    local bridge=$1 dev=$2
    do_without_error ip link set dev "$dev" down
    if [ -e "/sys/class/net/$bridge/brif/$dev" ]; then
        log debug "removing $dev from bridge $bridge"
        do_without_error ip link set dev "$dev" nomaster
    fi
}

# set_mtu <bridge> <dev> <type>: the back-end's mtu key when there is one
# (libxl writes it when not 1500), else the bridge's; for a vif it is also
# what the front-end is told.
set_mtu() {
    local bridge=$1 dev=$2 type_if=$3 mtu frontend
    mtu=$(xenstore_read_default "${XENBUS_PATH:?}/mtu" "")
    if [ -z "$mtu" ]; then
        mtu=$(cat "/sys/class/net/$bridge/mtu" 2>/dev/null || true)
    fi
    [[ $mtu =~ ^[0-9]+$ ]] && [ "$mtu" -gt 0 ] || return 0
    log debug "setting $dev MTU to $mtu"
    ip link set dev "$dev" mtu "$mtu" || :
    if [ "$type_if" = vif ]; then
        frontend=$(xenstore_read_default "$XENBUS_PATH/frontend" "")
        [ -n "$frontend" ] && xenstore_write "$frontend/mtu" "$mtu"
    fi
    return 0
}
