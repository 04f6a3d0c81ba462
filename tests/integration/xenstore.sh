#!/usr/bin/env bash
# xenstore as part of the system: Debian's xenstore-utils and Xen's own
# test-xenstore against a private xenolithd's socket, a guest talking over
# its ring while the host writes, @introduceDomain/@releaseDomain, the
# nodes libxl writes and removes, xl shutdown/reboot through
# control/shutdown, and hostile socket clients.
#   xenstore.sh BUILD_DIR
#
# Always runs the project's xl by path: Xen's xen-utils put their own `xl`
# on PATH. test-xenstore comes from Debian's xen-utils-4.17, unpacked with
# dpkg-deb (installing that package pulls in udev and systemd upgrades and
# Xen's init scripts; see docs/xenstore.md), cached under
# ${XENOLITH_CACHE:-/var/cache/xenolith}.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh" "${1:?usage: xenstore.sh BUILD_DIR}" xs
cleanup_extra() { jobs -p | xargs -r kill 2>/dev/null; }
for _ in $(seq 100); do [ -S "$XENSTORED_PATH" ] && break; sleep 0.05; done
skipped=0
out_is() { [ "$(cat "$work/out")" = "$1" ]; }
node_is() { [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]; }

# --- the socket ------------------------------------------------------------
check "socket at <run dir>/xenstored/socket" test -S "$XENSTORED_PATH"
check "socket is root-only (0600)" test "$(stat -c %a "$XENSTORED_PATH")" = 600
check "dom0's name (xen-init-dom0)" expect_rc 0 xenstore-read /local/domain/0/name
check "  is Domain-0" out_is Domain-0
check "XENSTORED_RUNDIR is honoured too" expect_rc 0 \
    env -u XENSTORED_PATH XENSTORED_RUNDIR="$XENOLITH_RUN_DIR/xenstored" xenstore-read /local/domain/0/domid

# --- Xen's test-xenstore and xenstore-control ------------------------------
# Prints the directory with Xen's own tools (xen-utils-4.17), or nothing.
find_xen_bin() {
    local sys=/usr/lib/xen-4.17/bin
    local cache=${XENOLITH_CACHE:-/var/cache/xenolith}/xen-utils-4.17
    [ -x "$sys/test-xenstore" ] && { echo "$sys"; return; }
    if [ ! -x "$cache/usr/lib/xen-4.17/bin/test-xenstore" ]; then
        local tmp
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download -q xen-utils-4.17 >/dev/null 2>&1) || { rm -rf "$tmp"; return; }
        mkdir -p "$cache" && dpkg-deb -x "$tmp"/xen-utils-4.17_*.deb "$cache"
        rm -rf "$tmp"
    fi
    [ -x "$cache/usr/lib/xen-4.17/bin/test-xenstore" ] && echo "$cache/usr/lib/xen-4.17/bin"
}
xen_bin=$(find_xen_bin)
xs_check() {  # CONTROL "check" with Xen's xenstore-control, when available
    [ -z "$xen_bin" ] && return 0
    "$xen_bin/xenstore-control" check >"$work/out" 2>&1 && out_is OK
}
if [ -n "$xen_bin" ]; then
    check "test-xenstore: all tests, 50 iterations" expect_rc 0 "$xen_bin/test-xenstore" -i 50
    check "  every test reported" test "$(grep -c 'avg:' "$work/out")" -eq 12
    check "xenstore-control quota" expect_rc 0 "$xen_bin/xenstore-control" quota
    check "  C xenstored's defaults" grep -qE '^nodes +: +1000 Nodes per domain$' "$work/out"
else
    echo "SKIP: Xen's test-xenstore and xenstore-control (xen-utils-4.17 not downloadable)"
    skipped=$((skipped + 1))
fi

# --- xenstore-utils ---------------------------------------------------------
check "write" expect_rc 0 xenstore-write /t/a 1 /t/b two /t/dir/c "with space"
check "read" expect_rc 0 xenstore-read /t/b
check "  value" out_is two
check "read several" expect_rc 0 xenstore-read /t/a /t/dir/c
check "  values" out_is "$(printf '1\nwith space')"
check "exists" expect_rc 0 xenstore-exists /t/dir/c
check "exists (missing) fails" expect_rc 1 xenstore-exists /t/nosuch
check "read (missing) fails" expect_rc 1 xenstore-read /t/nosuch
check "list" expect_rc 0 xenstore-list /t
check "  children" out_is "$(printf 'a\nb\ndir')"
check "ls" expect_rc 0 xenstore-ls /t
check "  tree" grep -q '^ c = "with space"' "$work/out"
check "chmod" expect_rc 0 xenstore-chmod /t/a n0 r5 w7
check "ls -p shows the perms" expect_rc 0 xenstore-ls -p /t
check "  (n0,r5,w7)" grep -q '^a = "1" .*(n0,r5,w7)$' "$work/out"
check "chmod -r (recursive)" expect_rc 0 xenstore-chmod -r /t/dir b3
check "  child perms" grep -q 'b3' <(xenstore-ls -p /t/dir)
check "bad path is EINVAL" expect_rc 1 xenstore-read '/t//x'
check "  message" grep -q "couldn't read path /t//x" "$work/err"
check "rm" expect_rc 0 xenstore-rm /t/dir
check "  gone" expect_rc 1 xenstore-exists /t/dir/c
check "CONTROL check (Xen's xenstore-control)" xs_check

# xenstore-watch: the initial event, then one per change below the path.
timeout 20 xenstore-watch -n 3 /t/w >"$work/watch" 2>&1 &
watcher=$!
wait_for 2 grep -q '^/t/w$' "$work/watch"
xenstore-write /t/w/x 1
xenstore-write /t/w/y 2
wait "$watcher"
check "watch: initial event and two changes" \
    test "$(cat "$work/watch")" = "$(printf '/t/w\n/t/w/x\n/t/w/y')"

# --- a guest over its ring ----------------------------------------------------
if needs_kvm "xenstore guests over their rings, xl shutdown/reboot"; then
    guest_cfg() {  # name, elf, extra lines...
        local name=$1 elf=$2; shift 2
        { echo "name = \"$name\""; echo 'type = "pvh"'
          echo "kernel = \"$build/guests/$elf.elf\""; echo 'memory = 32'
          for l in "$@"; do echo "$l"; done; } >"$work/$name.cfg"
        echo "$work/$name.cfg"
    }
    # Runs the xenstore guest in host-test mode up to the point where it waits
    # for control/shutdown. Prints its domid.
    start_host_guest() {  # name, extra cfg lines...
        local name=$1; shift
        "$xl" create "$(guest_cfg "$name" xenstore "extra = \"name=$name host-test\"" "$@")" \
            >"$work/create-$name" 2>&1 || return 1
        local id
        id=$("$xl" domid "$name") || return 1
        wait_for 10 node_is "/local/domain/$id/data/ready" 1 || return 1
        xenstore-write "/local/domain/$id/data/host" from-dom0 || return 1
        wait_for 10 node_is "/local/domain/$id/data/ack" 1 || return 1
        echo "$id"
    }

    timeout 30 xenstore-watch -n 2 @introduceDomain >"$work/intro" 2>&1 &
    intro=$!
    timeout 30 xenstore-watch -n 2 @releaseDomain >"$work/release" 2>&1 &
    release=$!
    wait_for 2 grep -q . "$work/intro"; wait_for 2 grep -q . "$work/release"

    id=$(start_host_guest xs-guest)
    check "guest read its nodes, took dom0's write, wrote data/ack" test -n "$id"
    id=${id:-0}
    wait "$intro"
    check "@introduceDomain fired for the new domain" test "$(wc -l <"$work/intro")" -eq 2
    home=/local/domain/$id
    vm=$(xenstore-read "$home/vm" 2>/dev/null)
    check "libxl nodes: name" node_is "$home/name" xs-guest
    check "  domid" node_is "$home/domid" "$id"
    check "  vm -> /vm/<uuid> with the uuid" node_is "$vm/uuid" "${vm#/vm/}"
    check "  memory/static-max" node_is "$home/memory/static-max" 32768
    check "  cpu/0/availability" node_is "$home/cpu/0/availability" online
    check "  store/port = HVM param" test -n "$(xenstore-read "$home/store/port")"
    check "  home is dom0's, readable by the domain" \
        test "$(xenstore-ls -p /local/domain | grep -E "^$id = " | sed 's/.*(//')" = "n0,r$id)"
    check "  control/shutdown owned by the domain" \
        grep -qE "^shutdown = .*\(n$id\)$" <(xenstore-ls -p "$home/control")
    check "  the guest's own node" node_is "$home/data/greeting" changed
    check "  /libxl/<id>/type" node_is "/libxl/$id/type" pvh

    check "xl shutdown -w: acknowledged" expect_rc 0 "$xl" shutdown -w xs-guest
    check "  Xen's messages" test "$(cat "$work/err")" = "$(printf 'Shutting down domain %s\nWaiting for 1 domains\nDomain %s has been shut down, reason code 0' "$id" "$id")"
    wait "$release"
    check "@releaseDomain fired" test "$(wc -l <"$work/release")" -eq 2
    check "the guest passed" grep -q 'Test result: SUCCESS' "$work/log/guest-xs-guest.log"
    check "the guest saw poweroff" grep -q 'control/shutdown = poweroff' "$work/log/guest-xs-guest.log"
    wait_for 5 expect_rc 1 xenstore-exists "$home"
    check "home removed" expect_rc 1 xenstore-exists "$home"
    check "/vm/<uuid> removed" expect_rc 1 xenstore-exists "$vm"
    check "/libxl/<id> removed" expect_rc 1 xenstore-exists "/libxl/$id"

    id=$(start_host_guest xs-reboot 'on_reboot = "destroy"')
    check "second guest ready" test -n "$id"
    check "xl reboot -w" expect_rc 0 "$xl" reboot -w xs-reboot
    check "  reason code 1 (reboot)" grep -q "^Domain ${id:-x} has been shut down, reason code 1$" "$work/err"
    check "  the guest saw reboot" grep -q 'control/shutdown = reboot' "$work/log/guest-xs-reboot.log"

    id=$(start_host_guest xs-death)
    check "third guest ready" test -n "$id"
    check "xl shutdown -ww waits for destruction" expect_rc 0 "$xl" shutdown -ww xs-death
    check "  destroyed" grep -q "^Domain ${id:-x} has been destroyed$" "$work/err"

    # A guest without PV drivers never acknowledges: libxl's timeout (60 s,
    # shortened here), its message and exit code.
    "$xl" create "$(guest_cfg xs-idle idle)" >/dev/null 2>&1
    check "no acknowledgement: exit 1" env XENOLITH_PVCONTROL_TIMEOUT_MS=300 \
        bash -c "\"$xl\" shutdown xs-idle >\"$work/out\" 2>\"$work/err\"; [ \$? -eq 1 ]"
    check "  libxl's message" grep -qx "libxl: error: libxl_domain.c:854:pvcontrol_cb: guest didn't acknowledge control request: -9" "$work/err"
    check "  xl's message" grep -qx "shutdown failed (rc=-9)" "$work/err"
    check "  the request stays in control/shutdown" node_is "/local/domain/$("$xl" domid xs-idle)/control/shutdown" poweroff
    "$xl" destroy xs-idle
fi
check "shutdown of an unknown domain" expect_rc 1 "$xl" shutdown nosuch
check "  message" grep -qx "nosuch is an invalid domain identifier (rc=-6)" "$work/err"
check "shutdown without a domain" expect_rc 1 "$xl" shutdown
check "  message" grep -qx "You must specify -a or a domain id." "$work/err"

# --- hostile socket clients --------------------------------------------------
cat >"$work/hostile.py" <<'PY'
import os, socket, struct, sys, time
path = os.environ["XENSTORED_PATH"]
XS_READ, XS_ERROR, XS_WRITE = 2, 16, 11
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); s.settimeout(5); return s
def msg(t, payload, req=7, tx=0, length=None):
    return struct.pack("<IIII", t, req, tx, len(payload) if length is None else length) + payload
def reply(s):
    hdr = b""
    while len(hdr) < 16:
        c = s.recv(16 - len(hdr))
        if not c: return None
        hdr += c
    t, r, tx, n = struct.unpack("<IIII", hdr)
    body = b""
    while len(body) < n: body += s.recv(n - len(body))
    return t, r, body
def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
good = conn()
which = sys.argv[1]
if which == "oversize":      # len above XENSTORE_PAYLOAD_MAX: connection closed
    s = conn(); s.sendall(msg(XS_READ, b"", length=4097)); ok = closed(s)
elif which == "huge":        # a 4 GiB length
    s = conn(); s.sendall(msg(XS_READ, b"", length=0xffffffff)); ok = closed(s)
elif which == "badtype":     # unknown type: an error reply, connection kept
    s = conn(); s.sendall(msg(12345, b"x\0")); r = reply(s)
    ok = r and r[0] == XS_ERROR and r[2] == b"ENOSYS\0" and r[1] == 7
    s.sendall(msg(XS_READ, b"/local/domain/0/name\0")); ok = ok and reply(s)[2] == b"Domain-0"
elif which == "badtx":       # unknown transaction: ENOENT
    s = conn(); s.sendall(msg(XS_READ, b"/t/a\0", tx=999)); r = reply(s); ok = r[2] == b"ENOENT\0"
elif which == "noterm":      # READ without its NUL
    s = conn(); s.sendall(msg(XS_READ, b"/t/a")); r = reply(s); ok = r[0] == XS_ERROR
elif which == "partial":     # half a header, then gone
    s = conn(); s.sendall(b"\x02\x00\x00"); s.close(); ok = True
elif which == "flood":       # 20,000 requests without reading a reply
    s = conn(); s.setblocking(False); sent = 0; blob = msg(XS_READ, b"/local/domain/0/name\0") * 100
    end = time.time() + 1
    while time.time() < end and sent < 200:
        try: s.send(blob); sent += 1
        except BlockingIOError: time.sleep(0.01)
    # the server stopped reading: others are unaffected meanwhile
    good.sendall(msg(XS_READ, b"/local/domain/0/name\0")); ok = reply(good)[2] == b"Domain-0"
    s.close()
elif which == "watchflood":  # a watcher that never reads while events pile up
    s = conn(); s.sendall(msg(4, b"/t\0tok\0"))
    w = conn()
    for i in range(3000): w.sendall(msg(XS_WRITE, b"/t/flood/%d\0v" % i)); reply(w)
    good.sendall(msg(XS_READ, b"/local/domain/0/name\0")); ok = reply(good)[2] == b"Domain-0"
    s.close()
good.sendall(msg(XS_READ, b"/local/domain/0/domid\0"))
ok = ok and reply(good)[2] == b"0"
sys.exit(0 if ok else 1)
PY
rss() { awk '/^VmRSS/ {print $2}' "/proc/$daemon/status"; }
rss0=$(rss)
for case in oversize huge badtype badtx noterm partial flood watchflood; do
    check "hostile socket client: $case" python3 "$work/hostile.py" "$case"
done
rss1=$(rss)
check "daemon memory bounded under floods (+$((rss1 - rss0)) KiB)" test $((rss1 - rss0)) -lt 65536
check "still consistent (CONTROL check)" xs_check
check "still serving" node_is /local/domain/0/name Domain-0

# --- stopping the daemon removes the socket ----------------------------------
kill "$daemon"; wait "$daemon" 2>/dev/null
check "socket removed on exit" test ! -e "$XENSTORED_PATH"
check "no sanitizer report in the daemon's log" \
    bash -c "! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' \"$work/xenolithd.log\""

echo "xenstore: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
