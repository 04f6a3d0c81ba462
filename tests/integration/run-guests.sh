#!/usr/bin/env bash
# Boots every test guest of tests/integration/guests.list through the real
# `xl create -c` against a private xenolithd, in parallel, and checks that
# the last console line is "Test result: SUCCESS".
#
#   run-guests.sh BUILD_DIR
#
# Guests listed in known-failures are run too, and reported as skipped with
# the reason given there; if one of them starts passing, the run says so.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh" "${1:?usage: run-guests.sh BUILD_DIR}" guests
skip_suite_without_kvm guests
jobs=${XENOLITH_TEST_JOBS:-4}

printf 'XENOLITH-RAMDISK\n' >"$work/ramdisk.img"
truncate -s 4096 "$work/ramdisk.img"

run_one() {  # name extras...
    local name=$1; shift
    local cfg="$work/$name.cfg" out="$work/$name.out"
    {
        echo "name = \"t-$name\""
        echo 'type = "pvh"'
        echo "kernel = \"$build/guests/$name.elf\""
        echo 'memory = 32'
        for kv in "$@"; do
            local k=${kv%%=*} v=${kv#*=}
            if [ "$kv" = ramdisk=1 ]; then echo "ramdisk = \"$work/ramdisk.img\""
            elif [[ $v =~ ^[0-9]+$ ]]; then echo "$k = $v"
            else echo "$k = \"$v\""; fi
        done
    } >"$cfg"
    timeout 60 "$xl" create -c "$cfg" </dev/null >"$out" 2>&1
    local last
    last=$(tr -d '\r' <"$out" | grep -v '^$' | tail -n 1)
    if [ "$last" = "Test result: SUCCESS" ]; then echo "PASS $name"; else echo "FAIL $name"; fi
}
export -f run_one
export work build xl

mapfile -t lines < <(grep -v '^\s*#' "$here/guests.list" | grep -v '^\s*$')
results=$(for l in "${lines[@]}"; do echo "$l"; done |
    xargs -d '\n' -P "$jobs" -n 1 bash -c 'eval "set -- $1"; run_one "$@"' _)

passed=0 failed=0 skipped=0
while read -r verdict name; do
    reason=$(grep -E "^$name\s" "$here/known-failures" 2>/dev/null | sed -E "s/^$name\s+//")
    if [ -n "$reason" ]; then
        if [ "$verdict" = PASS ]; then echo "note: $name passes now; remove it from known-failures"; fi
        echo "SKIP $name ($reason)"; skipped=$((skipped + 1)); continue
    fi
    echo "$verdict $name"
    if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "--- console of $name:"; tail -n 20 "$work/$name.out"; fi
done <<<"$results"
echo "guests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
