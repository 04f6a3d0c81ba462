#!/usr/bin/env bash
# The real-Linux lane: Debian's current linux-image-cloud-amd64 and
# linux-image-amd64 (whatever version apt resolves to, fetched with
# apt-get download) must
#   1. have exactly their direct hypercall sites rewritten by the loader
#      (loader_tests with XENOLITH_LINUX_IMAGES), and
#   2. boot under xenolith far enough to print their own banner through
#      earlyprintk=xen, detect Xen, and make no hypercall xenolith does not
#      know — within a bounded time.
# On development machines whose /dev/kvm emulates ring 0 the kernel does not
# get much further in that time; the assertions are about what it prints.
# Without a usable /dev/kvm only step 1 runs.
#   linux-boot.sh BUILD_DIR [SECONDS]
set -u
build=$(cd "${1:?usage: linux-boot.sh BUILD_DIR [SECONDS]}" && pwd)
limit=${2:-90}
top=$(cd "$(dirname "$0")/../.." && pwd)
xl="$build/src/toolstack/xl/xl"
cache=${XENOLITH_KERNEL_CACHE:-/var/cache/xenolith/kernels}
if ! ls "$cache"/vmlinuz-* >/dev/null 2>&1; then
    # A stale package list makes apt-get download fail: refresh once, retry.
    "$top/tests/unit/loader/fetch-debian-kernels.sh" "$cache" ||
        { apt-get update -qq && "$top/tests/unit/loader/fetch-debian-kernels.sh" "$cache"; } ||
        { echo "linux-boot: cannot fetch the Debian kernels"; exit 1; }
fi

source "$top/tests/integration/lib.sh" "$build" linux

XENOLITH_LINUX_IMAGES="$cache" "$build/tests/unit/loader/loader_tests" --gtest_filter='Debian*' \
    >"$cache/loader.log" 2>&1
check "loader rewrites exactly the direct hypercall sites of every Debian image" \
    grep -q '\[  PASSED  \]' "$cache/loader.log"
check "no Debian image test was skipped" bash -c "! grep -q SKIPPED '$cache/loader.log'"

if needs_kvm "booting a Debian kernel"; then
    kernel=$(ls "$cache"/vmlinuz-*cloud* 2>/dev/null | head -n 1)
    [ -n "$kernel" ] || kernel=$(ls "$cache"/vmlinuz-* | head -n 1)
    cat >"$work/linux.cfg" <<CFG
name = "linux"
type = "pvh"
kernel = "$kernel"
memory = 256
extra = "earlyprintk=xen console=hvc0 loglevel=8"
on_crash = "preserve"
CFG
    "$xl" create "$work/linux.cfg"
    for _ in $(seq "$limit"); do
        "$xl" dmesg >"$work/dmesg"
        grep -qE 'Kernel panic|early exception|PANIC' "$work/dmesg" && break
        "$xl" domid linux >/dev/null 2>&1 || break
        sleep 1
    done
    "$xl" dmesg >"$work/dmesg"
    "$xl" destroy linux 2>/dev/null
    echo "--- how far $(basename "$kernel") got (last lines):"
    grep '^(d' "$work/dmesg" | tail -n 8
    check "the kernel's own banner appears" grep -q 'Linux version' "$work/dmesg"
    check "the kernel detects Xen" grep -qE 'Hypervisor detected: Xen|Xen version' "$work/dmesg"
    check "no unknown hypercall or sub-op" bash -c "! grep -qE 'unknown (hypercall|.* sub-op)' '$work/dmesg'"
fi
summary linux-boot
