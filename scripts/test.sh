#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit tests (ctest),
# the guest suite and the xl command-line suite through a real xenolithd —
# once optimised and once under AddressSanitizer + UBSan.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
status=0
for variant in release asan; do
    dir="$top/build-$variant"
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    [ "$variant" = asan ] && flags=(-DCMAKE_BUILD_TYPE=Debug -DXENOLITH_SANITIZE=ON)
    echo "=== $variant build"
    cmake -S "$top" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
    ninja -C "$dir" -j"$(nproc)"
    echo "=== $variant unit tests"
    (cd "$dir" && ctest --output-on-failure -j"$(nproc)") || status=1
    echo "=== $variant guests"
    "$top/tests/integration/run-guests.sh" "$dir" || status=1
    echo "=== $variant xl"
    "$top/tests/integration/xl-cli.sh" "$dir" || status=1
done
exit $status
