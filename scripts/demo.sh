#!/usr/bin/env bash
# Installs dependencies, builds xenolith, starts xenolithd and boots the
# bundled demo guest with `xl create -c`, printing its console.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# The demo guest runs under KVM: say so up front rather than after a build.
if ! { [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; }; then
    echo "demo: the demo guest needs a usable /dev/kvm, and this host has none" \
         "($( [ -e /dev/kvm ] && echo "cannot open it read-write" || echo "no such device"))." >&2
    echo "demo: xenolithd still runs without it (xl list/info, xenstore), but cannot create domains." >&2
    exit 1
fi
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXENOLITH_TESTS=OFF >/dev/null
ninja -C "$top/build" xenolithd xl guests/all
source "$top/tests/integration/lib.sh" "$top/build" demo
"$xl" create -c "$(guest_cfg demo demo 32 'extra = "booted by scripts/demo.sh"')"
echo "--- xl dmesg"
"$xl" dmesg
