#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit tests (ctest),
# the guest suite, the xl command-line suite and the xenstore suite (Debian's
# xenstore-utils, Xen's test-xenstore) through a real xenolithd —
# once optimised and once under AddressSanitizer + UBSan.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
status=0
started=$(date +%s)

# Runs every suite of tests/integration/suites against BUILD_DIR, up to
# XENOLITH_SUITE_JOBS at a time (each has its own xenolithd), then prints
# each suite's output in list order. Fails if any suite failed.
run_suites() {
    local dir=$1 logs rc=0 pids=() names=() i
    logs=$(mktemp -d /tmp/xenolith-suites.XXXXXX)
    mapfile -t names < <(grep -v '^#' "$top/tests/integration/suites" | grep .)
    for i in "${!names[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "${XENOLITH_SUITE_JOBS:-3}" ]; do wait -n || true; done
        "$top/tests/integration/${names[$i]}" "$dir" >"$logs/$i.log" 2>&1 &
        pids[$i]=$!
    done
    for i in "${!names[@]}"; do
        if wait "${pids[$i]}"; then echo "--- ${names[$i]}: ok"; else echo "--- ${names[$i]}: FAILED"; rc=1; fi
        cat "$logs/$i.log"
    done
    return $rc
}

# Without a usable /dev/kvm (a VM without nested virtualisation, a
# container without the device) xenolithd runs degraded: the suites run
# what needs no guest and report the rest as skipped.
kvm_note_printed=no
kvm_note() {
    [ "$kvm_note_printed" = yes ] && return
    kvm_note_printed=yes
    [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null && return
    echo "no usable /dev/kvm: guest-booting checks are skipped"
}

# ccache, when the machine has it, makes a rebuild of unchanged files free;
# the build is the same without it.
# Paths under $top are hashed relative to it, so a clone elsewhere (CI's)
# hits the cache a previous build of the same sources filled.
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=1
fi

for variant in release asan; do
    dir="$top/build-$variant"
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    [ "$variant" = asan ] && flags=(-DCMAKE_BUILD_TYPE=Debug -DXENOLITH_SANITIZE=ON)
    flags+=("${launcher[@]}")
    echo "=== $variant build"
    cmake -S "$top" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
    ninja -C "$dir" -j"$(nproc)"
    echo "=== $variant unit tests"
    (cd "$dir" && ctest --output-on-failure --timeout 300 -j"$(nproc)") || status=1
    echo "=== $variant integration suites"
    kvm_note
    # CI has 90 minutes. On a slow, cold machine the ASan pass of the
    # suites (the optimised pass and the ASan unit tests have run by then)
    # is what gives way, said loudly, rather than the whole run timing out.
    elapsed=$(($(date +%s) - started))
    if [ "$variant" = asan ] && [ "$elapsed" -gt "${XENOLITH_ASAN_SUITES_AFTER:-3300}" ]; then
        echo "SKIP: ASan integration suites: ${elapsed}s already spent (limit XENOLITH_ASAN_SUITES_AFTER=${XENOLITH_ASAN_SUITES_AFTER:-3300}s)"
    else
        run_suites "$dir" || status=1
    fi
    if [ "$variant" = release ]; then
        echo "=== real Linux lane (Debian kernels, bounded boot)"
        "$top/tests/integration/linux-boot.sh" "$dir" "${XENOLITH_LINUX_SECONDS:-60}" || status=1
    fi
done

# Fuzz smoke: every libFuzzer target (clang, ASan+UBSan) runs from its seeds
# for a short while; a crash fails the run. Longer campaigns: see docs.
echo "=== fuzz"
fuzz="$top/build-fuzz"
CC=clang CXX=clang++ cmake -S "$top" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
    -DXENOLITH_FUZZ=ON -DXENOLITH_GUESTS=OFF >/dev/null
targets=(fuzz_loader fuzz_config fuzz_device_spec fuzz_libxl_json fuzz_cpulist pagewalk_fuzz xenstore_fuzz
         xenstore_ring_fuzz hypercall_args_fuzz blkback_fuzz vbd_fuzz link_fuzz netback_fuzz
         migration_stream_fuzz netproc_fuzz)
ninja -C "$fuzz" -j"$(nproc)" "${targets[@]}"
# Runs one target from its seeds for XENOLITH_FUZZ_SECONDS; its verdict and
# the libFuzzer log's tail go to $fuzzlogs/<target>.
fuzz_one() {
    local t=$1 bin seeds corpus d extra=()
    bin=$(find "$fuzz/tests/fuzz" -type f -name "$t" | head -n 1)
    seeds=$(dirname "$(grep -rl "$t" "$top"/tests/fuzz/*/CMakeLists.txt | head -n 1)")
    corpus=$(mktemp -d)
    for d in "$seeds/seeds" "$seeds/corpus" "$seeds/seeds-${t##*_}" "$seeds/seeds-${t%_fuzz}"; do
        [ -d "$d" ] && extra+=("$d")
    done
    if "$bin" -max_total_time="${XENOLITH_FUZZ_SECONDS:-15}" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" "${extra[@]}" \
        >"$corpus.log" 2>&1; then
        echo "fuzz $t: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$corpus.log" || tail -n 1 "$corpus.log"))" >"$fuzzlogs/$t"
    else
        { echo "fuzz $t: FAILED"; tail -n 30 "$corpus.log"; } >"$fuzzlogs/$t"
        return 1
    fi
}
# One target per core at a time; verdicts printed in list order.
fuzzlogs=$(mktemp -d)
fuzz_pids=()
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
    fuzz_one "$t" &
    fuzz_pids+=($!)
done
for i in "${!targets[@]}"; do
    wait "${fuzz_pids[$i]}" || status=1
    cat "$fuzzlogs/${targets[$i]}"
done
exit $status
