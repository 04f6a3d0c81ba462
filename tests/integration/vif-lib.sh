# Shared by the suites that plug vifs with the real hotplug scripts
# (vif-scripts.sh, net-modes.sh), sourced after lib.sh. The suite sets
# `host` (dom0's namespace stand-in) and `namespaces=()` first.

newns() { ip netns add "$1" && namespaces+=("$1") && ip -n "$1" link set lo up; }

# install_scripts: dist/scripts as installed in /etc/xen/scripts, under
# $work/scripts ($scripts), with the hotplug log and locks in $work.
install_scripts() {
    scripts=$work/scripts
    mkdir -p "$scripts"
    cp "$here/../../dist/scripts/"* "$scripts/"
    export XEN_HOTPLUG_LOG=$work/xen-hotplug.log XEN_LOCK_DIR=$work/locks XEN_SCRIPT_DIR=$scripts
}

node_is() { [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]; }
link_has() { ip -n "$1" -o link show dev "$2" 2>/dev/null | grep -q -- "$3"; }
not() { ! "$@"; }

# backend DOMID DEVID key=value...: the back-end directory libxl would write.
backend() {
    local domid=$1 devid=$2; shift 2
    local be=/local/domain/0/backend/vif/$domid/$devid
    xenstore-rm "$be" 2>/dev/null
    xenstore-write "$be/frontend" "/local/domain/$domid/device/vif/$devid" \
        "$be/frontend-id" "$domid" "$be/online" 1 "$be/state" 1 "$be/handle" "$devid" \
        "$be/mac" "00:16:3e:00:$domid:$devid" "$be/type" vif "$be/hotplug-status" "" \
        "/local/domain/$domid/device/vif/$devid/state" 1
    local kv
    for kv in "$@"; do xenstore-write "$be/${kv%%=*}" "${kv#*=}"; done
    echo "$be"
}
# run SCRIPT COMMAND VIF XENBUS_PATH [name=value...]: as xenolithd runs it
# (bounded, so a hung script fails the check instead of the run).
run() {
    local script=$1 cmd=$2 vif=$3 be=$4; shift 4
    # As libxl passes it: relative to the back-end domain's home.
    ip netns exec "$host" env vif="$vif" XENBUS_PATH="${be#/local/domain/0/}" \
        timeout 30 "$scripts/$script" "$cmd" "$@" \
        >"$work/out" 2>"$work/err"
}

# udp_echo NS [ADDR]: a UDP echo on ADDR:7 (default: every address) in NS,
# in the background. Bound to an address, replies come from it, as a
# connected socket wants them.
udp_echo() {
    ip netns exec "$1" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)' "${2:-0.0.0.0}" &
}
# udp_ping NS ADDR: from NS, one round trip (up to 10 tries of 0.5 s).
udp_ping() {
    ip netns exec "$1" timeout 20 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for _ in range(10):
    s.sendto(b"xenolith", (sys.argv[1], 7))
    try:
        if s.recv(64) == b"xenolith": sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)' "$2"
}
