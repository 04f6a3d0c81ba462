#!/usr/bin/env bash
# xenstore through xenolithd's unix socket against Debian's redis-server on
# a unix socket, same workload, one request at a time (xenstore_bench):
# read, write, a directory of 1,000 children, watch-fire latency (one
# client writes, another's watch event arrives; redis: keyspace
# notifications), read-modify-write transactions per second with 1 and 8
# clients (redis: WATCH/GET/MULTI/SET/EXEC), and server RSS growth for
# 10,000 nodes of 16 bytes.
#   bench/xenstore.sh [BUILD_DIR]
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
client="$build/bench/xenstore_bench"
[ -x "$client" ] || { echo "build $client first (ninja xenstore_bench)" >&2; exit 1; }

if ! command -v redis-server >/dev/null; then
    echo "installing redis-server (for the comparison only)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
redis_sock="$bench_work/redis.sock"
redis-server --port 0 --unixsocket "$redis_sock" --unixsocketperm 700 --save "" \
    --appendonly no --dir "$bench_work" --logfile "$bench_work/redis.log" &
redis=$!
cleanup_extra() { kill "$redis" 2>/dev/null; wait "$redis" 2>/dev/null; }
xs_sock="$XENOLITH_RUN_DIR/xenstored/socket"
for _ in $(seq 100); do [ -S "$redis_sock" ] && [ -S "$xs_sock" ] && break; sleep 0.05; done

"$client" xenstore "$xs_sock" "$bench_daemon" >"$bench_work/xs.out"
"$client" redis "$redis_sock" "$redis" >"$bench_work/redis.out"
get() { awk -v k="$2" '$1 == k {print $2}' "$bench_work/$1.out"; }

row() {  # label key unit better
    local x r
    x=$(get xs "$2"); r=$(get redis "$2")
    printf '%-40s %12s %12s %10s  %s\n' "$1" "$x" "$r" \
        "$(awk -v a="$x" -v b="$r" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')" "$4"
}
echo "xenstore: xenolithd $(basename "$xs_sock") vs $(redis-server --version | awk '{print $1, $3}'), unix sockets, one request at a time"
printf '%-40s %12s %12s %10s\n' "" xenolith redis ratio
row "read, median µs"                    read_us    µs  "(lower is better)"
row "write, median µs"                   write_us   µs  "(lower is better)"
row "directory of 1,000 children, µs"    dir1000_us µs  "(lower is better)"
row "watch fire (write -> event), µs"    watch_us   µs  "(lower is better)"
row "transactions/s, 1 client"           tx1_per_s  /s  "(higher is better)"
row "transactions/s, 8 clients"          tx8_per_s  /s  "(higher is better)"
row "RSS growth for 10,000 nodes, KiB"   mem_kib_10k KiB "(lower is better)"
echo "ratio = xenolith / redis. A xenstore transaction is 4 round trips"
echo "(START, READ, WRITE, END), redis's 5 (WATCH, GET, MULTI, SET, EXEC)."
