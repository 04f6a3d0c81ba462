#!/usr/bin/env bash
# vCPU control through real xl against a real xenolithd and a real guest:
# cpus=/cpus_soft= applied at creation (the vCPU threads' CPU affinity),
# xl vcpu-list's exact format, xl vcpu-set driving the vcpu_hotplug guest
# through cpu/<n>/availability (it brings vCPUs up and down itself), xl
# vcpu-pin changing a thread's affinity live, and every bad input with xl's
# message and exit code.
#   vcpu.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: vcpu.sh BUILD_DIR}" vcpu
skip_suite_without_kvm vcpu

ncpu=$(nproc --all)
last_cpu=$((ncpu - 1))
out_is() { [ "$(cat "$work/out")" = "$1" ]; }
err_is() { [ "$(cat "$work/err")" = "$1" ]; }
# The guest's console lines end in \r\n.
console_has() { tr -d '\r' <"$work/log/guest-$1.log" | grep -qx "$2"; }
# The xenolithd thread running vCPU N of domain ID is named dIDvN.
tid_of() {
    local t
    for t in /proc/"$daemon"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = "d$1v$2" ] && { basename "$t"; return 0; }
    done
    return 1
}
allowed() { awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$daemon/task/$(tid_of "$1" "$2")/status"; }
allowed_is() { [ "$(allowed "$1" "$2")" = "$3" ]; }
# A vcpu-list row for domain NAME, vCPU N (fields split on blanks).
row() { "$xl" vcpu-list "$1" | awk -v v="$2" 'NR > 1 && $3 == v'; }
row_matches() { row "$1" "$2" | grep -qE "$3"; }
# xl's print_vcpuinfo for an offline vCPU that never ran, byte for byte.
offline_row() { printf '%-32s %5u %5u%5c %3c%cp %9.1f  %s / %s' "$1" "$2" "$3" - - - 0 "$4" "$5"; }
header=$(printf '%-32s %5s %5s %5s %5s %9s %s' Name ID VCPU CPU State 'Time(s)' 'Affinity (Hard / Soft)')
# Xen's print_bitmap of CPU c alone on this host, and of "every CPU".
single() { if [ "$ncpu" -eq 1 ]; then echo all; else echo "$1"; fi; }

# --- creation: cpus= per vCPU, cpus_soft= for all -------------------------------
cfg=$(guest_cfg hp vcpu_hotplug 32 'vcpus = 2' 'maxvcpus = 4' \
    "cpus = [\"$last_cpu\", \"0-$last_cpu\"]" 'cpus_soft = "nodes:0,^1"')
check "create with cpus= and cpus_soft=" expect_rc 0 "$xl" create -q "$cfg"
id=$("$xl" domid hp 2>/dev/null || echo 0)
check "the guest is up with 2 vCPUs" wait_for 20 console_has hp 'vcpu_hotplug: online 0-1'
soft0=$(single 0)
check "hard affinity applied at creation: vCPU 0's thread on CPU $last_cpu" allowed_is "$id" 0 "$last_cpu"
check "  vCPU 1's thread on every CPU" allowed_is "$id" 1 "0-$last_cpu"
check "  secondary vCPUs have threads before they are up" allowed_is "$id" 3 "0-$last_cpu"

# --- vcpu-list -------------------------------------------------------------------
check "vcpu-list hp" expect_rc 0 "$xl" vcpu-list hp
check "  Xen's header" test "$(head -1 "$work/out")" = "$header"
check "  one row per vCPU up to maxvcpus" test "$(wc -l <"$work/out")" -eq 5
check "  vCPU 0: online, on CPU $last_cpu, hard $(single "$last_cpu") / soft $soft0" \
    row_matches hp 0 "^hp +$id +0 +$last_cpu +[-r][-b]- +[0-9]+\.[0-9] +$(single "$last_cpu") / $soft0\$"
check "  vCPU 1: online, hard all" row_matches hp 1 "^hp +$id +1 +[0-9]+ +[-r][-b]- +[0-9.]+ +all / $soft0\$"
check "  vCPU 2 offline, exactly as xl prints it" \
    test "$(row hp 2)" = "$(offline_row hp "$id" 2 all "$soft0")"
check "  vCPU 3 offline" test "$(row hp 3)" = "$(offline_row hp "$id" 3 all "$soft0")"
check "vcpu-list (all domains) shows Domain-0 and hp" expect_rc 0 "$xl" vcpu-list
check "  Domain-0: one row per host CPU" test "$(grep -c '^Domain-0 ' "$work/out")" -eq "$(getconf _NPROCESSORS_ONLN)"
check "  Domain-0 rows: all / all" bash -c "grep '^Domain-0 ' '$work/out' | grep -qvE ' all / all\$' && exit 1 || exit 0"
check "  hp's rows" test "$(grep -c '^hp ' "$work/out")" -eq 4
check "vcpu-list 0 Domain-0 (id and name)" expect_rc 0 "$xl" vcpu-list 0 Domain-0
check "  twice the host's CPUs" test "$(grep -c '^Domain-0 ' "$work/out")" -eq $((2 * $(getconf _NPROCESSORS_ONLN)))
check "vcpu-list of an unknown name: exit 1" expect_rc 1 "$xl" vcpu-list hp nosuch
check "  header and hp printed first" test "$(grep -c '^hp ' "$work/out")" -eq 4
check "  xl's message" err_is "nosuch is an invalid domain identifier (rc=-6)"
check "vcpu-list of an unused domid: libxl's error, exit 0" expect_rc 0 "$xl" vcpu-list 999
check "  message" err_is "libxl: error: libxl_domain.c:1667:libxl_list_vcpu: Domain 999:Getting infolist"
check "vcpu-list -x: exit 2" expect_rc 2 "$xl" vcpu-list -x
check "  message" err_is "option \`x' not supported."

# --- vcpu-set: the guest follows cpu/<n>/availability ---------------------------
if [ "$ncpu" -lt 4 ]; then
    check "vcpu-set 4 on a $ncpu-CPU host: overcommit refused" expect_rc 1 "$xl" vcpu-set hp 4
    check "  xl's message" err_is "You are overcommmitting! You have $ncpu physical CPUs and want 4 vCPUs! Aborting, use --ignore-host to continue"
fi
check "vcpu-set -i hp 4" expect_rc 0 "$xl" vcpu-set -i hp 4
for n in 0 1 2 3; do
    check "  cpu/$n/availability = online" test "$(xenstore-read "/local/domain/$id/cpu/$n/availability")" = online
done
check "  the guest brought vCPUs 2 and 3 up" wait_for 20 console_has hp 'vcpu_hotplug: online 0-3'
check "  vcpu-list: 4 online" test "$("$xl" vcpu-list hp | awk 'NR > 1 && $4 != "-"' | wc -l)" -eq 4
check "  vCPU 3 on a host CPU, not paused" row_matches hp 3 "^hp +$id +3 +[0-9]+ +[-r][-b]- "
check "vcpu-set --ignore-host hp 1" expect_rc 0 "$xl" vcpu-set --ignore-host hp 1
check "  cpu/1/availability = offline" test "$(xenstore-read "/local/domain/$id/cpu/1/availability")" = offline
check "  the guest took vCPUs 1-3 down" wait_for 20 console_has hp 'vcpu_hotplug: online 0'
for n in 1 2 3; do
    check "  vCPU $n shown offline (- --p)" row_matches hp $n "^hp +$id +$n +- +--p +[0-9]+\.[0-9] "
done
check "  vCPU 0 still online" row_matches hp 0 "^hp +$id +0 +[0-9]+ +[-r][-b]- "
check "vcpu-set -i hp 3: vCPU 1 and 2 come back" expect_rc 0 "$xl" vcpu-set -i hp 3
check "  the guest follows" wait_for 20 console_has hp 'vcpu_hotplug: online 0-2'
check "  vCPU 3 stays offline" row_matches hp 3 "^hp +$id +3 +- +--p "

check "vcpu-set above maxvcpus: exit 1" expect_rc 1 "$xl" vcpu-set -i hp 5
check "  libxl's and xl's messages" err_is "$(printf '%s\n%s' \
    "libxl: error: libxl_domain.c:1869:libxl_set_vcpuonline: Domain $id:Requested 5 VCPUs, however maxcpus is 4!" \
    "libxl_set_vcpuonline failed domid=$id max_vcpus=5, rc: -3")"
check "  nothing written" test "$(xenstore-read "/local/domain/$id/cpu/3/availability")" = offline
check "vcpu-set 0: exit 1" expect_rc 1 "$xl" vcpu-set hp 0
check "  messages" err_is "$(printf '%s\n%s' \
    "libxl: error: libxl_domain.c:1863:libxl_set_vcpuonline: Domain $id:Requested 0 VCPUs!" \
    "libxl_set_vcpuonline failed domid=$id max_vcpus=0, rc: -3")"
check "vcpu-set hp abc: exit 1" expect_rc 1 "$xl" vcpu-set hp abc
check "  message" err_is "Error: Invalid argument."
check "vcpu-set hp -1 (strtoul wraps above INT_MAX): exit 1" expect_rc 1 "$xl" vcpu-set hp -- -1
check "  message" err_is "Error: Invalid argument."
check "vcpu-set nosuch 1: exit 1" expect_rc 1 "$xl" vcpu-set nosuch 1
check "  message" err_is "nosuch is an invalid domain identifier (rc=-6)"
check "vcpu-set -i 999 1 (unused domid): exit 1" expect_rc 1 "$xl" vcpu-set -i 999 1
check "  message" err_is "Domain 999 does not exist."
check "vcpu-set hp: exit 2" expect_rc 2 "$xl" vcpu-set hp
check "  message and usage" grep -qx "'xl vcpu-set' requires at least 2 arguments." "$work/err"
check "  usage on stdout" grep -q '^Usage: xl .*vcpu-set \[option\] <Domain> <vCPUs>' "$work/out"
check "vcpu-set -q: exit 2" expect_rc 2 "$xl" vcpu-set -q hp 1
check "  message" err_is "option \`q' not supported."

# --- vcpu-pin: live thread affinity ------------------------------------------------
check "vcpu-pin hp 0 0" expect_rc 0 "$xl" vcpu-pin hp 0 0
check "  vCPU 0's thread now on CPU 0" allowed_is "$id" 0 0
check "  vcpu-list shows it" row_matches hp 0 " $(single 0) / $soft0\$"
check "vcpu-pin hp 1 all $last_cpu (hard and soft)" expect_rc 0 "$xl" vcpu-pin hp 1 all "$last_cpu"
check "  thread on every CPU" allowed_is "$id" 1 "0-$last_cpu"
check "  vcpu-list: all / $(single "$last_cpu")" row_matches hp 1 " all / $(single "$last_cpu")\$"
check "vcpu-pin hp 1 - 0 (soft only)" expect_rc 0 "$xl" vcpu-pin hp 1 - 0
check "  hard unchanged, soft 0" row_matches hp 1 " all / $(single 0)\$"
check "  thread unchanged" allowed_is "$id" 1 "0-$last_cpu"
check "vcpu-pin hp all $last_cpu" expect_rc 0 "$xl" vcpu-pin hp all "$last_cpu"
for n in 0 1 2 3; do
    check "  vCPU $n's thread on CPU $last_cpu" allowed_is "$id" $n "$last_cpu"
done
check "  every row hard $(single "$last_cpu")" \
    test "$("$xl" vcpu-list hp | awk -v h="$(single "$last_cpu")" 'NR > 1 && $(NF-2) == h' | wc -l)" -eq 4
check "vcpu-pin -f hp 2 0 (force)" expect_rc 0 "$xl" vcpu-pin -f hp 2 0
check "  thread on CPU 0" allowed_is "$id" 2 0
check "vcpu-pin --force hp 3 nodes:0 (NUMA node)" expect_rc 0 "$xl" vcpu-pin --force hp 3 nodes:0
node0=$(cat /sys/devices/system/node/node0/cpulist 2>/dev/null || echo "0-$last_cpu")
check "  thread on node 0's CPUs ($node0)" allowed_is "$id" 3 "$node0"
check "vcpu-pin hp 3 0-$last_cpu,^0 (exclusion)" expect_rc 0 "$xl" vcpu-pin hp 3 "0-$last_cpu,^0"
[ "$ncpu" -gt 1 ] && check "  thread on 1-$last_cpu" allowed_is "$id" 3 "$( [ "$ncpu" -eq 2 ] && echo 1 || echo "1-$last_cpu")"

before=$(allowed "$id" 0)
check "vcpu-pin hp 9 0 (no such vCPU): exit 1" expect_rc 1 "$xl" vcpu-pin hp 9 0
check "  libxl's and xl's messages" err_is "$(printf '%s\n%s' \
    "libxl: error: libxl_sched.c:62:libxl__set_vcpuaffinity: Domain $id:Setting vcpu affinity: Invalid argument" \
    "Could not set affinity for vcpu \`9'.")"
check "vcpu-pin hp x 0: exit 1" expect_rc 1 "$xl" vcpu-pin hp x 0
check "  message" err_is "Error: Invalid argument x as VCPU."
check "vcpu-pin -f hp all 0: exit 1" expect_rc 1 "$xl" vcpu-pin -f hp all 0
check "  message" err_is "Error: --force and 'all' as VCPU not allowed."
check "vcpu-pin hp 0 foo: exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 foo
check "  message" err_is "Invalid pcpu range: foo."
check "vcpu-pin hp 0 0 ^x (bad soft): exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 0 ^x
check "  message" err_is "Invalid pcpu range: x."
check "vcpu-pin hp 0 2-1: exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 2-1
check "  message" err_is "Invalid pcpu range: 2-1."
check "vcpu-pin hp 0 ^all: exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 ^all
check "  message" err_is "Can't combine \"^\" and \"all\"."
check "vcpu-pin hp 0 ^0 (empty map): exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 ^0
check "  message" err_is "vcpu hard affinity map is empty"
check "vcpu-pin hp 0 $ncpu (beyond the host): exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 "$ncpu"
check "  message" err_is "vcpu hard affinity map is empty"
check "vcpu-pin hp 0 - - (nothing to set): exit 1" expect_rc 1 "$xl" vcpu-pin hp 0 - -
check "  message" err_is "Could not set affinity for vcpu \`0'."
check "vcpu-pin nosuch 0 0: exit 1" expect_rc 1 "$xl" vcpu-pin nosuch 0 0
check "  message" err_is "nosuch is an invalid domain identifier (rc=-6)"
check "vcpu-pin 999 0 0 (unused domid): exit 1" expect_rc 1 "$xl" vcpu-pin 999 0 0
check "  message" err_is "Could not get domain info"
check "vcpu-pin hp 0: exit 2" expect_rc 2 "$xl" vcpu-pin hp 0
check "  message" grep -qx "'xl vcpu-pin' requires at least 3 arguments." "$work/err"
check "vcpu-pin -z hp 0 0: exit 2" expect_rc 2 "$xl" vcpu-pin -z hp 0 0
check "  message" err_is "option \`z' not supported."
check "vcpu-pin --bogus hp 0 0: exit 2" expect_rc 2 "$xl" vcpu-pin --bogus hp 0 0
check "failed pins left vCPU 0's thread alone" allowed_is "$id" 0 "$before"
# Domain 0 is the host: its CPUs are Linux's to schedule (a difference from Xen).
check "vcpu-pin 0 0 0 (the host): exit 1" expect_rc 1 "$xl" vcpu-pin 0 0 0
check "  message" err_is "vcpu-pin: domain 0 is the host: its CPUs are Linux's"
check "vcpu-set Domain-0 1 (the host): exit 1" expect_rc 1 "$xl" vcpu-set Domain-0 1
check "  message" err_is "vcpu-set: domain 0 is the host: its CPUs are Linux's"

# A domain that has shut down (preserved): its vCPU is still online, on the
# CPU it last ran on, neither running nor blocked.
"$xl" create -q "$(guest_cfg dead lifecycle 16 'extra = "reason=0"' 'on_poweroff = "preserve"')"
check "preserved domain shut down" wait_for 10 bash -c "'$xl' list dead | grep -q ' ---s-- '"
check "  vcpu-list: CPU shown, state ---" row_matches dead 0 "^dead +[0-9]+ +0 +[0-9]+ +--- +[0-9]+\.[0-9] +all / all\$"
"$xl" destroy dead

# --- configs xl refuses, with positions ---------------------------------------------
bad() {  # name, then cfg lines
    local name=$1; shift
    guest_cfg "$name" idle 16 'maxvcpus = 2' "$@"
}
check "cpus = \"foo\": exit 1" expect_rc 1 "$xl" create -q "$(bad b1 'cpus = "foo"')"
check "  file:line:column and xl's words" grep -qx "$work/b1.cfg:6:8: cpus: Invalid pcpu range: foo." "$work/err"
check "cpus_soft list with ^all: exit 1" expect_rc 1 "$xl" create -q "$(bad b2 'cpus_soft = ["0", "^all"]')"
check "  message" grep -qx "$work/b2.cfg:6:19: cpus_soft: Can't combine \"^\" and \"all\"." "$work/err"
check "cpus naming no host CPU: exit 1" expect_rc 1 "$xl" create -q "$(bad b3 "cpus = \"$ncpu-$((ncpu + 3))\"")"
check "  xl's message" err_is "vcpu hard affinity map is empty"
check "cpus = \"nodes:0\" creates" expect_rc 0 "$xl" create -q "$(bad numa 'cpus = "nodes:0"')"
check "  threads on node 0's CPUs" allowed_is "$("$xl" domid numa)" 0 "$node0"
"$xl" destroy numa
check "no half-made domains" bash -c "! '$xl' list | grep -qE '^b[123] '"

# --- the daemon validates what a client sends ----------------------------------------
cat >"$work/raw.py" <<'PY'
import json, os, socket, sys
def req(m):
    s = socket.socket(socket.AF_UNIX); s.connect(os.environ["XENOLITH_RUN_DIR"] + "/xenolithd.sock")
    s.sendall((json.dumps(m) + "\n").encode()); return json.loads(s.makefile().readline())
elf = sys.argv[1]; hp = sys.argv[2]; ncpu = int(sys.argv[3])
base = {"cmd": "create", "kernel": elf, "memory_kib": 16384, "vcpus": 1, "max_vcpus": 2}
bad_creates = [
    {"vcpu_hard_affinity": [[ncpu + 5]]},            # no online CPU
    {"vcpu_hard_affinity": [["0"]]},                 # not numbers
    {"vcpu_hard_affinity": [[0], [0], [0]]},         # more lists than vCPUs
    {"vcpu_soft_affinity": [[-1]]},
    {"vcpu_hard_affinity": {"0": [0]}},
    {"vcpu_hard_affinity": [list(range(70000))]},    # too long
]
ok = True
for i, extra in enumerate(bad_creates):
    r = req(dict(base, name="raw%d" % i, **extra))
    ok &= r.get("ok") is False
pins = [{"vcpu": 0, "hard": []}, {"vcpu": 0, "hard": [ncpu + 1]}, {"vcpu": -1, "hard": [0]},
        {"vcpu": 4, "hard": [0]}, {"vcpu": "0", "hard": [0]}, {"vcpu": 0, "hard": "0"},
        {"vcpu": 0}, {"vcpu": 0, "soft": [[0]]}]
for p in pins:
    r = req(dict({"cmd": "vcpu-pin", "domain": hp}, **p))
    ok &= r.get("ok") is False
for c in [0, 5, -1, "2", None]:
    r = req({"cmd": "vcpu-set", "domain": hp, "count": c})
    ok &= r.get("ok") is False
ok &= req({"cmd": "vcpu-list", "domain": "nosuch"}).get("ok") is False
sys.exit(0 if ok else 1)
PY
check "hostile create/vcpu-pin/vcpu-set requests are refused" \
    python3 "$work/raw.py" "$build/guests/idle.elf" hp "$ncpu"
check "  nothing created" bash -c "! '$xl' list | grep -qE '^raw[0-9] '"
check "  the daemon still serves" expect_rc 0 "$xl" vcpu-list hp

# --- the guest finishes -------------------------------------------------------------
check "xl shutdown -w hp" expect_rc 0 "$xl" shutdown -w hp
check "the guest passed" console_has hp 'Test result: SUCCESS'
check "no sanitizer report in the daemon's log" \
    bash -c "! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' '$work/xenolithd.log'"
summary vcpu
