#!/usr/bin/env bash
# Hostile guests and clients against a create in progress, names, and the
# console back-end (issue 9): a guest probing the domids after its own while
# `xl create` is held in the builder, eight parallel creates of one name,
# names the daemon must refuse, console log rotation, and `xl console` when
# the daemon dies.
#   guard.sh BUILD_DIR
set -u
# The window to race: every create waits this long between reserving its
# domid and building the domain. A test-only daemon hook rather than a slow
# kernel path (a FIFO, a huge ramdisk): the builder refuses FIFOs up front,
# and a file read is fast or slow at the page cache's whim, while the hook
# holds the reservation for a known time on any machine.
export XENOLITH_TEST_HOLD_BUILD_MS=1500
source "$(dirname "$0")/lib.sh" "${1:?usage: guard.sh BUILD_DIR}" guard
skip_suite_without_kvm guard

alive() { kill -0 "$daemon" 2>/dev/null; }

# 1. A guest probes domid+1..+4 with bind_interdomain, status,
# remote_shutdown and current_reservation while the next domain is built.
# Before the fix the reserved (empty) entry was dereferenced: SIGSEGV.
"$xl" create -q "$(guest_cfg g-probe domid_probe 16 'extra = "appear secs=60"')"
probe_log="$work/log/guest-g-probe.log"
check "the probing guest runs" wait_for 20 grep -q 'domid_probe: probing' "$probe_log"
probe_id=$("$xl" domid g-probe)
"$xl" create -q "$(guest_cfg g-target idle 16)" >"$work/target.out" 2>&1 &
create_pid=$!
check "the probing guest saw the next domid absent while built, then present" \
    wait_for 60 grep -q 'Test result: SUCCESS' "$probe_log"
check "... answered -ESRCH for the reservation many times" \
    grep -qE "domid $((probe_id + 1)): [1-9][0-9]+ absent, [1-9][0-9]* present" "$probe_log"
wait "$create_pid"
check "the create held in the builder completed" test $? -eq 0
check "the daemon survived the probes" alive
check "... and both domains are listed" grep -qE '^g-target +'$((probe_id + 1))' ' <("$xl" list)

# 2. The same probes while domains are created and destroyed (dying ones).
"$xl" create -q "$(guest_cfg g-probe2 domid_probe 16 'extra = "secs=8"')"
check "the second probing guest runs" wait_for 20 grep -q 'domid_probe: probing' \
    "$work/log/guest-g-probe2.log"
for i in 1 2 3; do
    "$xl" create -q "$(guest_cfg g-churn idle 16)"
    "$xl" destroy g-churn
done
check "probes across create and destroy get Xen's errnos" \
    wait_for 60 grep -q 'Test result: SUCCESS' "$work/log/guest-g-probe2.log"
check "the daemon survived create/destroy under probes" alive

# 3. Eight parallel creates of one name: one domain, seven of xl's errors.
dup_cfg=$(guest_cfg dup idle 16)
pids=()
for i in $(seq 8); do
    "$xl" create -q "$dup_cfg" >"$work/dup.$i.out" 2>&1 &
    pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check "eight parallel creates of 'dup': exactly one succeeds ($ok did)" test "$ok" -eq 1
check "... the others say the name is taken" \
    test "$(grep -l 'Domain with name "dup" already exists.' "$work"/dup.*.out | wc -l)" -eq 7
check "... and one domain is named dup" test "$("$xl" list | grep -c '^dup ')" -eq 1
"$xl" destroy dup

# 4. Names the daemon refuses itself (a raw client, not xl's parser).
raw_create() {  # NAME -> the daemon's reply on stdout
    python3 - "$XENOLITH_RUN_DIR/xenolithd.sock" "$1" "$build/guests/idle.elf" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"cmd": "create", "name": sys.argv[2], "kernel": sys.argv[3],
                       "memory_kib": 16384}) + "\n").encode())
print(s.makefile().readline().strip())
PY
}
check "a name with a tab and an ESC is refused" \
    grep -q 'must not contain control characters' <(raw_create $'bad\tname\e')
check "a name with '/' is refused" grep -q "must not contain '/'" <(raw_create 'a/b')
check "... before any console log is made" test ! -e "$work/log/guest-a" -a ! -e "$work/log/guest-a/b.log"
check "Domain-0 is taken" grep -q 'Domain with name \\"Domain-0\\" already exists.' \
    <(raw_create 'Domain-0')
check "nothing was created" test -z "$("$xl" list | awk 'NR > 1 {print $1}' | grep -vE '^(Domain-0|g-)')"
check "rename to a name with '/' is refused" expect_rc 1 "$xl" rename g-target 'x/y'
check "... and the domain keeps its name" "$xl" domid g-target

# 5. Console logs rotate: a log at the size cap moves to .1 on the next
# write, .1-.9 move up one, .10 is dropped.
rot="$work/log/guest-g-rot.log"
head -c $((4 * 1024 * 1024)) /dev/zero >"$rot"
for n in $(seq 10); do echo "old-$n" >"$rot.$n"; done
"$xl" create -q "$(guest_cfg g-rot xen_version 16)"
check "the rotated guest wrote its new log" wait_for 30 grep -q 'Test result: SUCCESS' "$rot"
check "... which starts afresh" test "$(stat -c %s "$rot")" -lt 65536
check "the full log became .1" test "$(stat -c %s "$rot.1")" -eq $((4 * 1024 * 1024))
check ".1 became .2 and .9 became .10" grep -q old-1 "$rot.2"
check "... (.10 holds old-9)" grep -q old-9 "$rot.10"
check "the oldest was dropped, no .11" test ! -e "$rot.11"
check "... (old-10 is gone)" test -z "$(grep -l old-10 "$rot"* 2>/dev/null)"

# 6. xl console: exit 0 when the domain goes, non-zero when the daemon dies.
"$xl" create -q "$(guest_cfg g-con idle 16)"
"$xl" console g-con </dev/null >"$work/con1.out" 2>&1 &
con=$!
sleep 1
"$xl" destroy g-con
wait "$con"
check "xl console exits 0 when its domain is destroyed" test $? -eq 0
"$xl" console g-target </dev/null >"$work/con2.out" 2>"$work/con2.err" &
con=$!
sleep 1
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
wait "$con"
rc=$?
check "xl console exits non-zero when the daemon dies (rc $rc)" test "$rc" -ne 0
check "... and says why" grep -q 'lost the connection to xenolithd' "$work/con2.err"

summary guard
