#!/usr/bin/env bash
# vifs through the real xl against a real xenolithd: xl network-attach
# (with -N's JSON, xl.conf's vif.default.* and xl's messages),
# network-detach, network-list, vif= at create and destroy's cleanup. The
# daemon runs in a network namespace this suite creates and removes, so the
# TAPs it makes never reach the host and parallel suites never collide.
# Without KVM the parts that need no domain still run.
#   xl-vifs.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
ns=xlvifs$$
have_netns=0
if command -v ip >/dev/null && ip netns add "$ns" 2>/dev/null; then
    have_netns=1
    daemon_netns=$ns
fi
# The daemon's (and xl's) xl.conf: defaults a vif without them gets.
daemon_xl_conf=$(mktemp /tmp/xenolith-xl-vifs-conf.XXXXXX)
printf 'vif.default.script = "vif-route"\nvif.default.gatewaydev = "eth7"\n' >"$daemon_xl_conf"
source "$here/lib.sh" "${1:?usage: xl-vifs.sh BUILD_DIR}" xl-vifs
cleanup_extra() {
    [ "$have_netns" = 1 ] && ip netns del "$ns" 2>/dev/null
    rm -f "$daemon_xl_conf"
}
[ "$have_netns" = 1 ] || skip "a network namespace for the daemon (needs iproute2 and CAP_SYS_ADMIN)"
have_xs_tools() { command -v xenstore-ls >/dev/null && command -v xenstore-read >/dev/null; }
xs_absent() { ! xenstore-read "$1" >/dev/null 2>&1; }
in_ns() { if [ "$have_netns" = 1 ]; then ip netns exec "$ns" "$@"; else "$@"; fi; }
no_vif_interfaces() { ! in_ns ip -o link show | grep -qE ': vif[0-9]+\.[0-9]+[@:]'; }

# ---- -N: libxl's JSON, as xl 4.17 prints it -----------------------------------------
check "-N network-attach: exit 0" expect_rc 0 "$xl" -N network-attach 99 mac=00:16:3e:01:02:03 bridge=br0
cat >"$work/want" <<'JSON'
vif: {
    "mac": "00:16:3e:01:02:03",
    "bridge": "br0",
    "script": "vif-route",
    "gatewaydev": "eth7"
}

JSON
check "  libxl_device_nic in idl order, xl.conf's defaults in" diff -u "$work/want" "$work/out"
check "-N with devid=, script= and flags" expect_rc 0 "$xl" -N network-attach 99 devid=3 script=vif-nat mtu=9000 untrusted type=vif rate=10Mb/s@20ms
cat >"$work/want" <<'JSON'
vif: {
    "devid": 3,
    "mtu": 9000,
    "script": "vif-nat",
    "nictype": "vif",
    "rate_bytes_per_interval": 25000,
    "rate_interval_usecs": 20000,
    "gatewaydev": "eth7",
    "trusted": "False"
}

JSON
check "  the argument wins over xl.conf" diff -u "$work/want" "$work/out"
XENOLITH_XL_CONF=$work/none.conf "$xl" -N network-attach 99 >"$work/out" 2>"$work/err"
check "-N with no settings and no xl.conf: an empty object" test "$(cat "$work/out")" = "$(printf 'vif: {\n\n}')"
check "unknown setting" expect_rc 1 "$xl" -N network-attach 99 colour=red
check "  xl's message" grep -qx "unrecognized argument \`colour=red'" "$work/err"
check "bad mac" expect_rc 1 "$xl" -N network-attach 99 mac=00:16:3e:zz:00:01
check "  xl's message" grep -qx "Invalid parameter \`mac'." "$work/err"
check "bad type" expect_rc 1 "$xl" -N network-attach 99 type=e1000
check "  xl's message" grep -qx "Invalid parameter \`type'." "$work/err"
check "bad mtu: refused, says why" expect_rc 1 "$xl" -N network-attach 99 mtu=12
check "  the reason" grep -qF "mtu: expected a number of bytes from 68 to 65535" "$work/err"
check "vifname too long" expect_rc 1 "$xl" -N network-attach 99 vifname=a-very-long-name0
check "  the limit" grep -qF "Linux interface names have at most 15" "$work/err"
check "-N network-attach of a name nobody has" expect_rc 1 "$xl" -N network-attach nosuch bridge=br0
check "  find_domain's message" grep -qx "nosuch is an invalid domain identifier (rc=-6)" "$work/err"
check "network-attach needs a domain" expect_rc 2 "$xl" network-attach
check "network-detach -N is refused" expect_rc 1 "$xl" -N network-detach 99 0

# ---- the daemon: no domain needed --------------------------------------------------
check "network-attach to a missing domid" expect_rc 1 "$xl" network-attach 99 bridge=br0
check "  libxl's lines" grep -qx "libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=99" "$work/err"
check "  xl's line" grep -qx "libxl_device_nic_add failed." "$work/err"
check "network-attach to domain 0 is refused" expect_rc 1 "$xl" network-attach 0 bridge=br0
check "network-detach of a missing domid" expect_rc 1 "$xl" network-detach 99 0
check "  xl's message" grep -qx "Unknown device 0." "$work/err"
check "network-detach by MAC of a missing domid" expect_rc 1 "$xl" network-detach 99 00:16:3e:01:02:03
check "  xl's message" grep -qx "Unknown device 00:16:3e:01:02:03." "$work/err"
check "network-detach by name nobody has" expect_rc 1 "$xl" network-detach nosuch 0
check "  find_domain's message" grep -qx "nosuch is an invalid domain identifier (rc=-6)" "$work/err"
check "network-list of a missing domid: the header only" expect_rc 0 "$xl" network-list 99
check "  one line" test "$(wc -l <"$work/out")" = 1
if have_xs_tools; then
    check "nothing was written to xenstore" xs_absent /libxl/99
    check "  nor a back-end" xs_absent /local/domain/0/backend/vif/99
else
    skip "xenstore checks: no xenstore-ls/xenstore-read (Debian's xen-utils)"
fi
check "no TAP was made" no_vif_interfaces

# A bad vif= fails `xl create` before anything is made, naming file:line:column.
cfg=$(guest_cfg badvif demo 32 "vif = [ 'bridge=br0', 'mac=00:16:3e:zz:00:01' ]")
check "create with a bad vif=" expect_rc 1 "$xl" create -p "$cfg"
check "  file:line:column and the value" grep -qF "$cfg:5:" "$work/err"
check "  what is wrong" grep -qF "is not a MAC address" "$work/err"
check "  no domain" expect_rc 1 "$xl" domid badvif

# An xl.conf that does not parse stops the daemon at start, naming the line.
printf 'vif.default.script = \n' >"$work/bad-xl.conf"
"$build/src/daemon/xenolithd" --run-dir "$work/run2" --log-dir "$work/log2" \
    --xl-conf "$work/bad-xl.conf" >"$work/out" 2>"$work/err" &
bad=$!
check "a daemon with a broken xl.conf exits" wait_for 5 bash -c "! kill -0 $bad"
wait "$bad"
check "  with an error" test $? -ne 0
check "  naming the file" grep -qF "$work/bad-xl.conf:1" "$work/err"

# ---- guests ------------------------------------------------------------------------
if needs_kvm "vif= at create, network-attach/-list/-detach, destroy's cleanup"; then
    write_vif_test_script
    cfg=$(guest_cfg nets demo 32 "vif = [ 'mac=00:16:3e:00:00:01,script=$work/vif-test' ]")
    if "$xl" create -p "$cfg" >"$work/out" 2>"$work/err"; then
        domid=$("$xl" domid nets)
        check "vif= at create: the TAP" in_ns ip link show dev "vif$domid.0"
        check "  online ran" grep -qx "online vif$domid.0 backend/vif/$domid/0" "$work/vif.log"
        check "network-list: its row" bash -c "'$xl' network-list nets | grep -qE '^0 +0 +00:16:3e:00:00:01 '"
        "$xl" list -l nets >"$work/listl" 2>"$work/err"
        check "list -l: the nic" bash -c 'jq -e "$1" "$2" >/dev/null || { cat "$2"; false; }' _ '.[0].config.nics[0].mac == "00:16:3e:00:00:01"' "$work/listl"
        check "network-attach" expect_rc 0 "$xl" network-attach nets "script=$work/vif-test" vifname=web0
        check "  named as asked" in_ns ip link show dev web0
        check "network-detach by MAC" expect_rc 0 "$xl" network-detach nets 00:16:3e:00:00:01
        check "  offline ran" grep -qx "offline vif$domid.0 backend/vif/$domid/0" "$work/vif.log"
        check "  the TAP is gone" bash -c "! ip netns exec $ns ip link show dev vif$domid.0 2>/dev/null"
        check "destroy" expect_rc 0 "$xl" destroy nets
        check "  no TAP left" no_vif_interfaces
        check "  nothing in xenstore" xs_absent "/local/domain/0/backend/vif/$domid"
    else
        cat "$work/err" >&2
        check "create with a vif (xenolith-netback serves it)" false
    fi
fi

summary xl-vifs
