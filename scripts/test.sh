#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit tests (ctest),
# the guest suite, the xl command-line suite and the xenstore suite (Debian's
# xenstore-utils, Xen's test-xenstore) through a real xenolithd —
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
    echo "=== $variant lifecycle"
    "$top/tests/integration/lifecycle.sh" "$dir" || status=1
    echo "=== $variant xenstore"
    "$top/tests/integration/xenstore.sh" "$dir" || status=1
    if [ "$variant" = release ]; then
        echo "=== real Linux lane (Debian kernels, bounded boot)"
        "$top/tests/integration/linux-boot.sh" "$dir" "${XENOLITH_LINUX_SECONDS:-60}" || status=1
    fi
done

# Fuzz smoke: every libFuzzer target (clang, ASan+UBSan) runs from its seeds
# for a short while; a crash fails the run. Longer campaigns: see docs.
echo "=== fuzz"
fuzz="$top/build-fuzz"
CC=clang CXX=clang++ cmake -S "$top" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DXENOLITH_FUZZ=ON -DXENOLITH_GUESTS=OFF >/dev/null
targets=(fuzz_loader fuzz_config pagewalk_fuzz xenstore_fuzz hypercall_args_fuzz)
ninja -C "$fuzz" -j"$(nproc)" "${targets[@]}"
for t in "${targets[@]}"; do
    bin=$(find "$fuzz/tests/fuzz" -type f -name "$t" | head -n 1)
    seeds=$(dirname "$(grep -rl "$t" "$top"/tests/fuzz/*/CMakeLists.txt | head -n 1)")
    corpus=$(mktemp -d)
    extra=()
    for d in "$seeds/seeds" "$seeds/corpus"; do [ -d "$d" ] && extra+=("$d"); done
    if "$bin" -max_total_time="${XENOLITH_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" "${extra[@]}" \
        >"$corpus.log" 2>&1; then
        echo "fuzz $t: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$corpus.log" || tail -n 1 "$corpus.log"))"
    else
        echo "fuzz $t: FAILED"; tail -n 30 "$corpus.log"; status=1
    fi
done
exit $status
