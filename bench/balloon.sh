#!/usr/bin/env bash
# Ballooning a 1 GiB guest down to 256 MiB and back: the host memory
# behind the domain (allocated blocks of its memfd, and the Rss of
# xenolithd's mapping of it) before and after, the wall time from `xl
# mem-set` to the guest's "done" line, xenolithd's CPU time over that
# interval (on PVM hosts this includes the emulated guest, which runs on
# the vCPU thread), and the VMM's own cost of the balloon hypercalls
# (thread CPU time inside decrease_reservation/populate_physmap, which
# xenolithd accounts per domain: reservation_cpu_ns in its list reply).
# The guest (guests/tests/balloon.c, "touch") first writes every frame, so
# the host really backs the whole GiB.
#   bench/balloon.sh [BUILD_DIR] [FROM_MIB] [TO_MIB]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
from=${2:-1024} to=${3:-256}
hz=$(getconf CLK_TCK)

memfd() {  # the /proc fd path of domain $1's guest memory
    local fd
    for fd in /proc/"$bench_daemon"/fd/*; do
        [ "$(readlink "$fd")" = "/memfd:xenolith-d$1 (deleted)" ] && { echo "$fd"; return; }
    done
}
host_kib() { echo $(( $(stat -L -c %b "$(memfd "$1")") / 2 )); }
mapping_rss_kib() {  # Rss of xenolithd's mapping of the memfd (smaps)
    awk -v name="/memfd:xenolith-d$1" '
        /^[0-9a-f]+-[0-9a-f]+ / {on = index($0, name) > 0}
        on && /^Rss:/ {s += $2} END {print s + 0}' "/proc/$bench_daemon/smaps"
}
# utime+stime of xenolithd, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$bench_daemon/stat"; }
# FIELD of domain $1 in xenolithd's list reply (the control socket).
daemon_field() {
    python3 - "$XENOLITH_RUN_DIR/xenolithd.sock" "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"cmd":"list"}\n')
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk: break
    buf += chunk
for d in json.loads(buf)["domains"]:
    if d["domid"] == int(sys.argv[2]): print(d[sys.argv[3]])
PY
}
now_ns() { date +%s%N; }
done_lines() { grep -c "balloon: done target=$2 current=$2" "$bench_work/log/guest-$1.log" || true; }
wait_done() {  # NAME TARGET_KIB SEEN: until a new such line (60 s at most)
    for _ in $(seq 6000); do
        [ "$(done_lines "$1" "$2")" -gt "$3" ] && return 0
        sleep 0.01
    done
    echo "the guest did not reach $2 KiB"; tail -5 "$bench_work/log/guest-$1.log"; exit 1
}

"$xl" create -q "$(guest_cfg bal balloon "$from" 'extra = "touch"')"
id=$("$xl" domid bal)
wait_done bal $((from * 1024)) 0
echo "guest:                          memory=$from MiB, touched, ballooning to $to MiB and back"
echo "host memory before:             $(host_kib "$id") KiB (memfd), $(mapping_rss_kib "$id") KiB (Rss of the mapping)"

step() {  # TARGET_MIB PAGES_MOVED LABEL
    local c0 t0 t1 c1 n0 n1 o0 o1 seen
    seen=$(done_lines bal $(($1 * 1024)))
    n0=$(daemon_field "$id" reservation_cpu_ns) o0=$(daemon_field "$id" reservation_ops)
    c0=$(cpu_ticks) t0=$(now_ns)
    "$xl" mem-set bal "$1"
    wait_done bal $(($1 * 1024)) "$seen"
    t1=$(now_ns) c1=$(cpu_ticks)
    n1=$(daemon_field "$id" reservation_cpu_ns) o1=$(daemon_field "$id" reservation_ops)
    echo "$3:"
    echo "  xl mem-set to guest done:     $(( (t1 - t0) / 1000000 )) ms"
    awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN {
        printf "  xenolithd CPU (with guest):   %.0f ms\n", 1000 * c / hz }'
    awk -v n=$((n1 - n0)) -v o=$((o1 - o0)) -v p="$2" 'BEGIN {
        printf "  VMM in balloon hypercalls:    %.1f ms for %d hypercalls, %d pages (%.0f ns/page)\n",
               n / 1e6, o, p, n / p }'
    echo "  host memory after:            $(host_kib "$id") KiB (memfd), $(mapping_rss_kib "$id") KiB (Rss of the mapping)"
    echo "  xl list Mem:                  $("$xl" list bal | awk 'NR == 2 {print $3}') MiB"
}
step "$to" $(((from - to) * 256)) "down $from -> $to MiB"
step "$from" $(((from - to) * 256)) "up $to -> $from MiB (pages checked zero by the guest)"
