#!/usr/bin/env bash
# The vif hotplug scripts of dist/scripts (vif-bridge, vif-route, vif-nat)
# for real, in network namespaces this suite creates and removes: no
# interface, route or address of the host is touched. xenstore is a private
# xenolithd's, reached by Debian's xenstore-read/-write through
# XENSTORED_PATH, as the scripts reach it on a host. A veth pair stands for
# netback's vif: its far end, in a "guest" namespace, answers UDP, which
# proves the host side each script sets up carries traffic.
#   vif-scripts.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh" "${1:?usage: vif-scripts.sh BUILD_DIR}" vif-scripts
source "$here/vif-lib.sh"
for _ in $(seq 100); do [ -S "$XENSTORED_PATH" ] && break; sleep 0.05; done

tag=xlv$$
host=$tag-h   # dom0's namespace stand-in
namespaces=()
cleanup_extra() {
    jobs -p | xargs -r kill 2>/dev/null
    local ns
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
}

if ! command -v ip >/dev/null || ! newns "$host" 2>/dev/null; then
    skip "vif scripts: ip netns is not available here (needs iproute2 and CAP_SYS_ADMIN)"
    # --- xl network-list: xenstore as libxl and a front-end left it ----------------
lx=/local/domain/0/backend/vif/7
xenstore-write /libxl/7/device/vif/0/backend "$lx/0" /libxl/7/device/vif/0/mac 00:16:3e:00:07:00 \
    /libxl/7/device/vif/1/backend "$lx/1" /libxl/7/device/vif/1/mac 00:16:3e:00:07:01 \
    /local/domain/7/device/vif/0/state 4 /local/domain/7/device/vif/0/event-channel 9 \
    /local/domain/7/device/vif/0/tx-ring-ref 768 /local/domain/7/device/vif/0/rx-ring-ref 769 \
    /local/domain/7/device/vif/1/state 1
xenstore-rm /local/domain/7/device/vif/1/event-channel 2>/dev/null
cat >"$work/want" <<'LIST'
Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path                       
0   0  00:16:3e:00:07:00     0     4      9   768/769         /local/domain/0/backend/vif/7/0
1   0  00:16:3e:00:07:01     1     1     -1    -1/-1          /local/domain/0/backend/vif/7/1
LIST
check "xl network-list: xl's columns from xenstore" expect_rc 0 "$xl" network-list 7
check "  the rows" diff -u "$work/want" "$work/out"
check "xl network-list of a domain with no vifs: the header only" expect_rc 0 "$xl" network-list 12
check "  one line" test "$(wc -l <"$work/out")" = 1
check "xl network-list of an unknown name fails as xl" expect_rc 1 "$xl" network-list no-such-domain
check "  with xl's message" grep -q "no-such-domain is an invalid domain identifier" "$work/err"

summary vif-scripts
    exit
fi

# The scripts as installed in /etc/xen/scripts, plus a user's wrapper.
install_scripts
cat >"$scripts/vif-bridge-qlen" <<'WRAP'
#!/bin/bash
dir=$(dirname "$0")
ip link set "$vif" qlen 1000
exec "$dir/vif-bridge" "$@"
WRAP
chmod +x "$scripts/vif-bridge-qlen"

link_lacks() { ip -n "$1" -o link show dev "$2" >/dev/null 2>&1 && ! link_has "$@"; }
route_has() { ip -n "$host" route show | grep -q -- "$1"; }

# guest_end NS VIF ADDR/PREFIX: the vif as a veth whose far end (eth0) is in NS.
guest_end() {
    newns "$1" && ip -n "$host" link add "$2" type veth peer name eth0 netns "$1" &&
        ip -n "$1" addr add "$3" dev eth0 && ip -n "$1" link set eth0 up
}

# --- vif-bridge ---------------------------------------------------------------
ip -n "$host" link add br0 type bridge && ip -n "$host" addr add 10.9.0.1/24 dev br0 &&
    ip -n "$host" link set br0 up
guest_end "$tag-g1" vif7.0 10.9.0.2/24
udp_echo "$tag-g1"
be=$(backend 7 0 bridge=br0 script="$scripts/vif-bridge")
check "vif-bridge online succeeds" run vif-bridge online vif7.0 "$be"
check "  the vif is a port of br0" link_has "$host" vif7.0 "master br0"
check "  and up" link_has "$host" vif7.0 "<.*UP.*>"
check "  with the bridge-safe MAC" link_has "$host" vif7.0 "fe:ff:ff:ff:ff:ff"
check "  hotplug-status connected" node_is "$be/hotplug-status" connected
check "  the bridge's MTU told to the front-end" node_is /local/domain/7/device/vif/0/mtu 1500
check "  a UDP round trip host -> guest over the bridge" udp_ping "$host" 10.9.0.2
check "vif-bridge offline succeeds" run vif-bridge offline vif7.0 "$be"
check "  the vif left the bridge" link_lacks "$host" vif7.0 "master br0"
check "  no more traffic" not udp_ping "$host" 10.9.0.2

# A user's wrapper, as on Xen: sets qlen, then execs our vif-bridge.
ip -n "$host" tuntap add dev vif7.1 mode tap
be=$(backend 7 1 bridge=br0 script="$scripts/vif-bridge-qlen")
check "a wrapper around vif-bridge works unchanged" run vif-bridge-qlen online vif7.1 "$be"
check "  its qlen applied" link_has "$host" vif7.1 "qlen 1000"
check "  and the tap is on the bridge" link_has "$host" vif7.1 "master br0"
check "  hotplug-status connected" node_is "$be/hotplug-status" connected

# vifname= renames the interface before it joins; mtu= from xenstore.
ip -n "$host" tuntap add dev vif7.2 mode tap
be=$(backend 7 2 bridge=br0 vifname=web0 mtu=1400)
check "vifname= and mtu=: online succeeds" run vif-bridge online vif7.2 "$be"
check "  renamed to web0, on the bridge" link_has "$host" web0 "master br0"
check "  mtu 1400" link_has "$host" web0 "mtu 1400"
check "  front-end told 1400" node_is /local/domain/7/device/vif/2/mtu 1400
check "  offline by the new name" run vif-bridge offline vif7.2 "$be"
check "  web0 left the bridge" link_lacks "$host" web0 "master br0"

# A failing script: the reason where xl looks for it, non-zero exit.
ip -n "$host" tuntap add dev vif7.3 mode tap
be=$(backend 7 3 bridge=nosuchbr)
check "a missing bridge fails" expect_rc 1 run vif-bridge online vif7.3 "$be"
check "  hotplug-status error" node_is "$be/hotplug-status" error
check "  hotplug-error names the bridge" bash -c "xenstore-read $be/hotplug-error | grep -q nosuchbr"
be=$(backend 7 3 bridge=br0)
check "an unknown command is refused" expect_rc 1 run vif-bridge plug vif7.3 "$be"
check "name=value arguments are data, not code" run vif-bridge online vif7.3 "$be" \
    'bridge=$(touch /tmp/pwned-'$tag')' 'x;touch=1'
check "  nothing was run" test ! -e "/tmp/pwned-$tag"

# --- vif-route ----------------------------------------------------------------
ip -n "$host" link add uplink type bridge && ip -n "$host" addr add 192.0.2.1/24 dev uplink &&
    ip -n "$host" link set uplink up
guest_end "$tag-g2" vif8.0 192.0.2.50/32
ip -n "$tag-g2" route add 192.0.2.1 dev eth0 && ip -n "$tag-g2" route add default via 192.0.2.1
udp_echo "$tag-g2"
be=$(backend 8 0 "ip=192.0.2.50 192.0.2.51" script="$scripts/vif-route")
check "vif-route online succeeds" run vif-route online vif8.0 "$be" netdev=uplink
check "  host route to the guest's first address" route_has "192.0.2.50 dev vif8.0 .*src 192.0.2.1"
check "  and its second" route_has "192.0.2.51 dev vif8.0 .*src 192.0.2.1"
check "  proxy ARP on the vif" test "$(ip netns exec "$host" cat /proc/sys/net/ipv4/conf/vif8.0/proxy_arp)" = 1
check "  hotplug-status connected" node_is "$be/hotplug-status" connected
check "  a UDP round trip host -> routed guest" udp_ping "$host" 192.0.2.50
check "vif-route offline succeeds" run vif-route offline vif8.0 "$be" netdev=uplink
check "  the host routes are gone" bash -c "! ip -n $host route show | grep -q vif8.0"
be=$(backend 8 1 ip=192.0.2.60)
ip -n "$host" tuntap add dev vif8.1 mode tap
check "vif-route without an address on netdev fails" expect_rc 1 run vif-route online vif8.1 "$be" netdev=nosuchdev
check "  hotplug-status error" node_is "$be/hotplug-status" error

# --- vif-nat ------------------------------------------------------------------
# Domain 9's first vif: 10.0.9.1, its router 10.0.9.128 (Xen's numbering).
guest_end "$tag-g3" vif9.0 10.0.9.1/16
ip -n "$tag-g3" route add 10.0.9.128 dev eth0 && ip -n "$tag-g3" route add default via 10.0.9.128
be=$(backend 9 0 script="$scripts/vif-nat")
check "vif-nat online succeeds" run vif-nat online vif9.0 "$be"
check "  the router address on the vif" bash -c "ip -n $host -o addr show dev vif9.0 | grep -q 'inet 10.0.9.128/32'"
check "  a host route to the guest" route_has "10.0.9.1 dev vif9.0 .*src 10.0.9.128"
check "  forwarding on" test "$(ip netns exec "$host" cat /proc/sys/net/ipv4/ip_forward)" = 1
check "  hotplug-status connected" node_is "$be/hotplug-status" connected
udp_echo "$host"
check "  the guest reaches a host-side address (the uplink) through the vif" udp_ping "$tag-g3" 192.0.2.1
check "vif-nat offline succeeds" run vif-nat offline vif9.0 "$be"
check "  the vif is down" link_lacks "$host" vif9.0 "<.*UP.*>"
ip -n "$host" tuntap add dev vif9.1 mode tap
be=$(backend 9 1 ip=172.16.5.10)
check "vif-nat with ip=: router at +127" run vif-nat online vif9.1 "$be"
check "  172.16.5.137 on the vif" bash -c "ip -n $host -o addr show dev vif9.1 | grep -q 'inet 172.16.5.137/32'"
check "vif-nat refuses dhcp (not provided)" expect_rc 1 run vif-nat online vif9.1 "$be" dhcp=yes
check "  hotplug-status error" node_is "$be/hotplug-status" error

# --- xl network-list: xenstore as libxl and a front-end left it ----------------
lx=/local/domain/0/backend/vif/7
xenstore-write /libxl/7/device/vif/0/backend "$lx/0" /libxl/7/device/vif/0/mac 00:16:3e:00:07:00 \
    /libxl/7/device/vif/1/backend "$lx/1" /libxl/7/device/vif/1/mac 00:16:3e:00:07:01 \
    /local/domain/7/device/vif/0/state 4 /local/domain/7/device/vif/0/event-channel 9 \
    /local/domain/7/device/vif/0/tx-ring-ref 768 /local/domain/7/device/vif/0/rx-ring-ref 769 \
    /local/domain/7/device/vif/1/state 1
xenstore-rm /local/domain/7/device/vif/1/event-channel 2>/dev/null
cat >"$work/want" <<'LIST'
Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path                       
0   0  00:16:3e:00:07:00     0     4      9   768/769         /local/domain/0/backend/vif/7/0
1   0  00:16:3e:00:07:01     1     1     -1    -1/-1          /local/domain/0/backend/vif/7/1
LIST
check "xl network-list: xl's columns from xenstore" expect_rc 0 "$xl" network-list 7
check "  the rows" diff -u "$work/want" "$work/out"
check "xl network-list of a domain with no vifs: the header only" expect_rc 0 "$xl" network-list 12
check "  one line" test "$(wc -l <"$work/out")" = 1
check "xl network-list of an unknown name fails as xl" expect_rc 1 "$xl" network-list no-such-domain
check "  with xl's message" grep -q "no-such-domain is an invalid domain identifier" "$work/err"

summary vif-scripts
