#!/usr/bin/env bash
# Installs dependencies, builds xenolith, starts xenolithd and boots the
# bundled demo guest with `xl create -c`, printing its console.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXENOLITH_TESTS=OFF >/dev/null
ninja -C "$top/build" xenolithd xl guests/all
source "$top/tests/integration/lib.sh" "$top/build" demo
"$xl" create -c "$(guest_cfg demo demo 32 'extra = "booted by scripts/demo.sh"')"
echo "--- xl dmesg"
"$xl" dmesg
