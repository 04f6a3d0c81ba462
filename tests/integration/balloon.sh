#!/usr/bin/env bash
# Memory ballooning through real xl against a real xenolithd: the balloon
# guest (guests/tests/balloon.c) follows memory/target; `xl mem-set` and
# `xl mem-max` with libxl's rules and xl's messages and exit codes; `xl
# list` shows the allocation; and the host memory behind the domain (the
# allocated blocks of its memfd, as stat sees them through
# /proc/<xenolithd>/fd) really falls when pages are given back and rises
# when they are taken again.
#   balloon.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: balloon.sh BUILD_DIR}" balloon
skip_suite_without_kvm balloon

# host_kib DOMID: KiB of host memory allocated to the domain's guest memory.
host_kib() {
    local fd
    for fd in /proc/"$daemon"/fd/*; do
        if [ "$(readlink "$fd")" = "/memfd:xenolith-d$1 (deleted)" ]; then
            echo $(( $(stat -L -c %b "$fd") / 2 )); return 0
        fi
    done
    echo 0; return 1
}
mem_of() { "$xl" list "$1" 2>/dev/null | awk 'NR == 2 {print $3}'; }
log_of() { cat "$work/log/guest-$1.log" 2>/dev/null; }
# done_at NAME TARGET_KIB: the guest reported reaching the target.
done_at() { log_of "$1" | grep -q "balloon: done target=$2 current=$2"; }
between() {  # GOT LOW HIGH (KiB)
    [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || { echo "  got $1 KiB, want $2..$3"; return 1; }
}
near() {  # GOT WANT TOLERANCE (KiB)
    local d=$(( $1 - $2 )); [ ${d#-} -le "$3" ] || { echo "  got $1 KiB, want $2 +- $3"; return 1; }
}
out_is() { diff <(printf '%s\n' "$@") "$work/err" >/dev/null || { echo "  stderr:"; cat "$work/err"; return 1; }; }

cfg=$(guest_cfg b1 balloon 64 'maxmem = 128' 'extra = "touch"')
check "xl create of the balloon guest" "$xl" create -q "$cfg"
id=$("$xl" domid b1) || { summary balloon; exit 1; }
check "the guest follows its initial target" wait_for 20 done_at b1 65536
check "its own checks of Xen's memory_op semantics passed" \
    bash -c "! grep -q 'Failure' '$work/log/guest-b1.log'"
check "xl list shows 64 MiB" test "$(mem_of b1)" = 64
before=$(host_kib "$id")
# The guest touched every frame above its image; 1 MiB of its allocation is
# pages charged with no frame (its max_pages checks), which nothing backs.
check "the host backs the touched RAM (~60 of 64 MiB)" between "$before" 57344 65536

# Down: 32 MiB go back to the host.
check "xl mem-set b1 32" "$xl" mem-set b1 32
check "the guest reaches 32 MiB" wait_for 20 done_at b1 32768
check "xl list shows 32 MiB" test "$(mem_of b1)" = 32
after=$(host_kib "$id")
check "host memory fell by ~32 MiB ($before -> $after KiB)" near $((before - after)) 32768 2048
check "xl list -l carries the new target" bash -c \
    "'$xl' list -l b1 | grep -q '\"target_memkb\": 32768'"

# Up again: the pages come back (zeroed, the guest checks) and are backed.
check "xl mem-set b1 48m" "$xl" mem-set b1 48m
check "the guest reaches 48 MiB" wait_for 20 done_at b1 49152
up=$(host_kib "$id")
check "host memory rose by ~16 MiB ($after -> $up KiB)" near $((up - after)) 16384 2048

# Beyond memory, up to maxmem: frames above the initial RAM.
check "xl mem-set b1 100 (maxmem 128)" "$xl" mem-set b1 100
check "the guest grows to 100 MiB" wait_for 20 done_at b1 102400
check "xl list shows 100 MiB" test "$(mem_of b1)" = 100
grown=$(host_kib "$id")
check "host memory rose by ~52 MiB ($up -> $grown KiB)" near $((grown - up)) 53248 2048
check "no repopulated page read non-zero" bash -c "! grep -q 'Failure' '$work/log/guest-b1.log'"

# libxl's limits, xl's messages and exit codes.
check "mem-set above static-max fails with 1" expect_rc 1 "$xl" mem-set b1 200
check "... with libxl's and xl's messages" out_is \
    "libxl: error: libxl_mem.c:278:libxl_set_memory_target: Domain $id:memory_dynamic_max must be less than or equal to memory_static_max" \
    "" "cannot set domid $id dynamic max memory to : 200"
check "mem-max below the target fails with 1" expect_rc 1 "$xl" mem-max b1 90
check "... with libxl's and xl's messages" out_is \
    "libxl: error: libxl_mem.c:59:libxl_domain_setmaxmem: Domain $id:memory_static_max must be greater than or or equal to memory_dynamic_max: Success" \
    "cannot set domid $id static max memory to : 90"
check "mem-max 120" "$xl" mem-max b1 120
check "xl list -l shows static-max 120 MiB" bash -c \
    "'$xl' list -l b1 | grep -q '\"max_memkb\": 122880'"
check "mem-set above the new static-max fails" expect_rc 1 "$xl" mem-set b1 121
check "mem-set 1g above it fails" expect_rc 1 "$xl" mem-set b1 1g
check "mem-set to exactly static-max works (bytes)" "$xl" mem-set b1 125829120b
check "the guest reaches 120 MiB" wait_for 20 done_at b1 122880
check "back down with a k suffix" "$xl" mem-set b1 16384k
check "the guest reaches 16 MiB" wait_for 20 done_at b1 16384
low=$(host_kib "$id")
check "host memory ~12 MiB after ballooning down to 16 ($low KiB)" between "$low" 10240 16384

for bad in abc 12x 1kb 4q; do
    check "mem-set size '$bad' is invalid" expect_rc 1 "$xl" mem-set b1 "$bad"
    check "... 'invalid memory size: $bad'" out_is "invalid memory size: $bad"
done
check "mem-max size 'x' is invalid" expect_rc 1 "$xl" mem-max b1 x
check "... 'invalid memory size: x'" out_is "invalid memory size: x"
check "a negative size is an option to xl's getopt" expect_rc 2 "$xl" mem-set b1 -5
check "... 'option \`5' not supported.'" out_is "option \`5' not supported."
check "mem-set with one argument exits 2" expect_rc 2 "$xl" mem-set b1
check "... with xl's message" bash -c "head -1 '$work/err' | grep -qx \"'xl mem-set' requires at least 2 arguments.\""
check "mem-set of an unknown name" expect_rc 1 "$xl" mem-set nosuch 64
check "... is an invalid domain identifier" out_is "nosuch is an invalid domain identifier (rc=-6)"
check "mem-max of an unknown name" expect_rc 1 "$xl" mem-max nosuch 64
check "... is an invalid domain identifier" out_is "nosuch is an invalid domain identifier (rc=-6)"
check "the domain is checked before the size" expect_rc 1 "$xl" mem-set nosuch abc
check "... as xl does" out_is "nosuch is an invalid domain identifier (rc=-6)"
check "mem-set of an unused domid" expect_rc 1 "$xl" mem-set 999 64
check "... fails as libxl's lock does" out_is "cannot set domid 999 dynamic max memory to : 64"
check "mem-max of an unused domid" expect_rc 1 "$xl" mem-max 999 64
check "... fails as libxl's lock does" out_is "cannot set domid 999 static max memory to : 64"
check "mem-set of dom0 below 128 MiB" expect_rc 1 "$xl" mem-set 0 64
check "... libxl's threshold message" out_is \
    "libxl: error: libxl_mem.c:287:libxl_set_memory_target: New target 65536 for dom0 is below the minimum threshold" \
    "cannot set domid 0 dynamic max memory to : 64"
check "mem-set of dom0 (the host) is refused" expect_rc 1 "$xl" mem-set Domain-0 1024
check "... saying why" bash -c "grep -q 'domain 0 is the Linux host' '$work/err' &&
    tail -1 '$work/err' | grep -qx 'cannot set domid 0 dynamic max memory to : 1024'"
check "mem-max of dom0 is refused" expect_rc 1 "$xl" mem-max 0 100000
check "xl list still shows b1 at 16 MiB" test "$(mem_of b1)" = 16

# Past the maxmem of creation: the RAM space was laid out to 128 MiB, so
# populate_physmap stops there (extents done, no error) and the guest says
# it fell short; nothing else breaks.
check "mem-max 256" "$xl" mem-max b1 256
check "mem-set 200" "$xl" mem-set b1 200
check "the guest falls short at the 128 MiB layout" wait_for 20 bash -c \
    "grep -qE 'balloon: short target=204800 current=13[0-9]{4}\b' '$work/log/guest-b1.log'"
check "xl list shows what it holds (~129 MiB)" between "$(mem_of b1)" 128 130
check "back down to 60 MiB" "$xl" mem-set b1 60
check "the guest reaches 60 MiB" wait_for 20 done_at b1 61440

# The guest acknowledges xl shutdown and reports its verdict.
check "xl shutdown b1" "$xl" shutdown b1
check "the guest ends with SUCCESS" wait_for 20 bash -c \
    "tail -1 '$work/log/guest-b1.log' | grep -q 'Test result: SUCCESS'"
if [ "$failed" -ne 0 ]; then echo "--- guest log"; log_of b1 | tail -30; fi
summary balloon
