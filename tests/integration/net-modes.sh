#!/usr/bin/env bash
# Xen's three network modes end to end through the real xenolith-netback:
# host -> vif -> guest -> vif -> host, with no guest. The guest is
# xenolith-netfront-responder: the host netfront harness on a TAP named as
# xenolithd names a vif (vif<domid>.<devid>), the real back-end process
# launched on it as xenolithd launches it, and a stand-in guest stack that
# answers ARP, ping and UDP echo and can reach out (--probe). The vif is
# then plugged by the real dist/scripts hotplug script, as xenolithd runs it,
# in a network namespace this suite creates and removes: no interface,
# route or address of the host is touched. xenstore is a private
# xenolithd's, reached by the scripts through XENSTORED_PATH.
#   net-modes.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh" "${1:?usage: net-modes.sh BUILD_DIR}" net-modes
source "$here/vif-lib.sh"
for _ in $(seq 100); do [ -S "$XENSTORED_PATH" ] && break; sleep 0.05; done

responder=$build/src/backend/xenolith-netfront-responder
netback=$build/src/daemon/xenolith-netback
tag=xln$$
host=$tag-h   # dom0's namespace stand-in
namespaces=()
declare -A guest_pid=()

# stop_guest VIF: SIGTERM, as xenolithd stops a vif's back-end; the
# responder's exit status (124: it would not stop within 5 s, so killed).
stop_guest() {
    local pid=${guest_pid[$1]:-}
    [ -n "$pid" ] || return 1
    unset "guest_pid[$1]"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 124
    fi
    wait "$pid"
}
cleanup_extra() {
    local vif ns
    for vif in "${!guest_pid[@]}"; do stop_guest "$vif"; done
    jobs -p | xargs -r kill 2>/dev/null
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
}

if [ "$(id -u)" != 0 ]; then
    skip "network modes: needs root (TAPs, namespaces)"
    summary net-modes
    exit
fi
if [ ! -x "$responder" ] || [ ! -x "$netback" ]; then
    skip "network modes: build xenolith-netfront-responder and xenolith-netback first"
    summary net-modes
    exit
fi
if [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null || ! newns "$host" 2>/dev/null; then
    skip "network modes: /dev/net/tun or ip netns is not available here (needs iproute2 and CAP_SYS_ADMIN)"
    summary net-modes
    exit
fi

install_scripts

link_gone() { ! ip -n "$1" -o link show dev "$2" >/dev/null 2>&1; }

# guest VIF --mac MAC --ip ADDR [responder options...]: the stand-in guest
# on TAP VIF in the host namespace; succeeds once its front end connected.
guest_started() { grep -qx ready "$work/$1.out" || ! kill -0 "${guest_pid[$1]}" 2>/dev/null; }
guest() {
    local vif=$1; shift
    ip netns exec "$host" "$responder" --netback "$netback" --tap "$vif" "$@" \
        >"$work/$vif.out" 2>"$work/$vif.err" &
    guest_pid[$vif]=$!
    wait_for 20 guest_started "$vif"
    grep -qx ready "$work/$vif.out"
}
# host_ping ADDR: two ICMP echoes from the host namespace, answered. With
# iputils ping when installed; else the same from a raw socket.
if command -v ping >/dev/null; then
    host_ping() { ip netns exec "$host" timeout 20 ping -n -c 2 -W 2 "$1" >/dev/null 2>&1; }
else
    echo "note: no ping (iputils-ping); ICMP echo from a python raw socket instead"
    host_ping() {
        ip netns exec "$host" timeout 20 /usr/bin/python3 -c '
import os, socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.2)
ident, body, got = os.getpid() & 0xffff, b"xenolith-ping", 0
for seq in (1, 2):
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(hdr + body), ident, seq) + body, (sys.argv[1], 0))
    end = time.monotonic() + 2
    while time.monotonic() < end:
        try:
            d, a = s.recvfrom(2048)
        except socket.timeout:
            continue
        icmp = d[(d[0] & 0xf) * 4:]
        if a[0] == sys.argv[1] and len(icmp) >= 8 and icmp[0] == 0 and \
                struct.unpack("!HH", icmp[4:8]) == (ident, seq) and csum(icmp) == 0:
            got += 1
            break
sys.exit(0 if got == 2 else 1)' "$1"
    }
fi

# all_answer CHECK ADDR...: CHECK (a command, word-split) succeeds for each ADDR.
all_answer() {
    local how=$1 a; shift
    for a; do $how "$a" || return 1; done
}

# --- bridged: vif-bridge ------------------------------------------------------
ip -n "$host" link add br0 type bridge && ip -n "$host" addr add 10.10.0.1/24 dev br0 &&
    ip -n "$host" link set br0 up
check "bridged: a guest on vif7.0, connected to the real xenolith-netback" \
    guest vif7.0 --mac 00:16:3e:00:07:00 --ip 10.10.0.2
be70=$(backend 7 0 bridge=br0 script="$scripts/vif-bridge")
check "  vif-bridge online succeeds" run vif-bridge online vif7.0 "$be70"
check "  vif7.0 is a port of br0" link_has "$host" vif7.0 "master br0"
check "  hotplug-status connected" node_is "$be70/hotplug-status" connected
check "  the host pings the guest over the bridge" host_ping 10.10.0.2
check "  a UDP round trip host -> guest -> host" udp_ping "$host" 10.10.0.2
check "a second vif on the same guest (2 queues)" \
    guest vif7.1 --mac 00:16:3e:00:07:01 --ip 10.10.0.3 --queues 2
be71=$(backend 7 1 bridge=br0 script="$scripts/vif-bridge")
check "  vif-bridge online succeeds" run vif-bridge online vif7.1 "$be71"
check "  both vifs answer ping" all_answer host_ping 10.10.0.2 10.10.0.3
check "  both vifs answer UDP" all_answer "udp_ping $host" 10.10.0.2 10.10.0.3

# --- offline ------------------------------------------------------------------
check "vif-bridge offline succeeds" run vif-bridge offline vif7.0 "$be70"
check "  the guest behind vif7.0 no longer answers" not host_ping 10.10.0.2
check "  the one behind vif7.1 still does" host_ping 10.10.0.3
check "  the responder exits cleanly on SIGTERM" stop_guest vif7.0
check "  and its TAP is gone" link_gone "$host" vif7.0

# --- routed: vif-route --------------------------------------------------------
ip -n "$host" link add uplink type bridge && ip -n "$host" addr add 192.0.2.1/24 dev uplink &&
    ip -n "$host" link set uplink up
check "routed: a guest on vif8.0" guest vif8.0 --mac 00:16:3e:00:08:00 --ip 192.0.2.50
be=$(backend 8 0 ip=192.0.2.50 script="$scripts/vif-route")
check "  vif-route online succeeds" run vif-route online vif8.0 "$be" netdev=uplink
check "  hotplug-status connected" node_is "$be/hotplug-status" connected
check "  the host pings the routed guest" host_ping 192.0.2.50
check "  a UDP round trip to the routed guest" udp_ping "$host" 192.0.2.50

# --- NAT: vif-nat -------------------------------------------------------------
# Domain 9's first vif: 10.0.9.1, its router 10.0.9.128 (Xen's numbering).
# The guest probes a host-side address (the uplink's) through the router.
udp_echo "$host" 192.0.2.1
check "NAT: a guest on vif9.0, probing 192.0.2.1:7 via 10.0.9.128" \
    guest vif9.0 --mac 00:16:3e:00:09:00 --ip 10.0.9.1 --probe 192.0.2.1:7 --gateway 10.0.9.128
be=$(backend 9 0 script="$scripts/vif-nat")
check "  vif-nat online succeeds" run vif-nat online vif9.0 "$be"
check "  hotplug-status connected" node_is "$be/hotplug-status" connected
check "  the host pings the guest" host_ping 10.0.9.1
check "  a UDP round trip host -> guest" udp_ping "$host" 10.0.9.1
check "  the guest reaches a host-side address through its router (probe ok)" \
    wait_for 10 grep -qx "probe ok" "$work/vif9.0.out"

# --- a failing script ---------------------------------------------------------
check "a guest on vif7.2, whose bridge does not exist" guest vif7.2 --mac 00:16:3e:00:07:02 --ip 10.10.0.4
be=$(backend 7 2 bridge=nosuchbr script="$scripts/vif-bridge")
check "  vif-bridge online fails" expect_rc 1 run vif-bridge online vif7.2 "$be"
check "  hotplug-status error" node_is "$be/hotplug-status" error
check "  the guest is unreachable" not host_ping 10.10.0.4

for vif in vif7.1 vif8.0 vif9.0 vif7.2; do
    check "$vif's responder exits cleanly on SIGTERM" stop_guest "$vif"
done
if [ "$failed" -gt 0 ]; then
    for f in "$work"/vif*.err; do echo "--- $f"; tail -n 20 "$f"; done
fi
summary net-modes
