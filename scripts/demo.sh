#!/usr/bin/env bash
# Installs dependencies, builds xenolith, starts xenolithd and boots the
# bundled demo guest with `xl create -c`, printing its console.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXENOLITH_TESTS=OFF >/dev/null
ninja -C "$top/build" xenolithd xl guests/all
run=$(mktemp -d /tmp/xenolith-demo.XXXXXX)
export XENOLITH_RUN_DIR="$run"
"$top/build/src/daemon/xenolithd" --run-dir "$run" --log-dir "$run/log" 2>"$run/xenolithd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$run/xenolithd.sock" ] && break; sleep 0.05; done
cat >"$run/demo.cfg" <<CFG
name = "demo"
type = "pvh"
kernel = "$top/build/guests/demo.elf"
memory = 32
extra = "booted by scripts/demo.sh"
CFG
"$top/build/src/toolstack/xl/xl" create -c "$run/demo.cfg"
echo "--- xl dmesg"
"$top/build/src/toolstack/xl/xl" dmesg
