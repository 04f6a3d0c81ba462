# Shared by the integration suites, the bench scripts and the demo: a
# private xenolithd on a build directory, and the check helpers.
#
#   source tests/integration/lib.sh BUILD_DIR NAME
#
# Sets build, xl, work (a fresh temp dir), daemon (its pid) and
# XENOLITH_RUN_DIR; the daemon is stopped when the sourcing script exits
# (scripts that need more cleanup define cleanup_extra). Its stderr goes to
# $work/xenolithd.log, guest console logs to $work/log. With
# XENOLITH_SERIAL_FIFO=1 the daemon's serial line is the FIFO $work/serial.
#
# Without a usable /dev/kvm the daemon runs degraded (no domains): suites
# call needs_kvm before each part that boots guests, and skip_suite_without_kvm
# when all of it does.
build=$(cd "${1:?usage: source lib.sh BUILD_DIR NAME}" && pwd)
xl="$build/src/toolstack/xl/xl"
work=$(mktemp -d "/tmp/xenolith-${2:-run}.XXXXXX")
export XENOLITH_RUN_DIR="$work/run"
# The daemon's default for a private run dir: <run dir>/xenstored/socket.
export XENSTORED_PATH="$XENOLITH_RUN_DIR/xenstored/socket"
unset XENSTORED_RUNDIR
daemon_args=()
if [ "${XENOLITH_SERIAL_FIFO:-0}" = 1 ]; then
    mkfifo "$work/serial"
    daemon_args+=(--serial-input "$work/serial")
fi
# A suite may set, before sourcing: daemon_xl_conf (the daemon's xl.conf,
# else an empty one: the host's /etc/xen/xl.conf never leaks into a test)
# and daemon_netns (a network namespace the suite made, for the TAPs the
# daemon creates).
if [ -z "${daemon_xl_conf:-}" ]; then daemon_xl_conf="$work/xl.conf"; : >"$daemon_xl_conf"; fi
daemon_args+=(--xl-conf "$daemon_xl_conf")
export XENOLITH_XL_CONF="$daemon_xl_conf"  # xl reads the same one
daemon_wrap=()
[ -n "${daemon_netns:-}" ] && daemon_wrap=(ip netns exec "$daemon_netns")
# start_daemon: the suite's xenolithd (again, after stop_daemon), ready.
start_daemon() {
    "${daemon_wrap[@]}" "$build/src/daemon/xenolithd" --run-dir "$XENOLITH_RUN_DIR" --log-dir "$work/log" \
        "${daemon_args[@]}" >>"$work/xenolithd.log" 2>&1 &
    daemon=$!
    for _ in $(seq 100); do [ -S "$XENOLITH_RUN_DIR/xenolithd.sock" ] && break; sleep 0.05; done
}
stop_daemon() { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
cleanup_extra() { :; }
trap 'cleanup_extra; stop_daemon' EXIT
start_daemon

# have_kvm: /dev/kvm exists and opens read-write (what xenolithd needs).
have_kvm() { [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; }
if have_kvm; then XENOLITH_HAVE_KVM=1; else XENOLITH_HAVE_KVM=0; fi
export XENOLITH_HAVE_KVM

passed=0 failed=0 skipped=0
skip() { skipped=$((skipped + 1)); echo "SKIP: $1"; }  # what is skipped, and why
# needs_kvm WHAT: succeeds with KVM; otherwise records WHAT as skipped and fails.
#   if needs_kvm "guests over the ring"; then ...; fi
needs_kvm() {
    [ "$XENOLITH_HAVE_KVM" = 1 ] && return 0
    skip "$1: no usable /dev/kvm on this host"
    return 1
}
# skip_suite_without_kvm SUITE: a suite that is all guests ends here, passing.
skip_suite_without_kvm() {
    needs_kvm "$1 (every check boots a guest)" && return 0
    summary "$1"
    exit
}
check() {  # description, then a command that must succeed
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); return; fi
    failed=$((failed + 1)); echo "FAIL: $what"
    # The last command's stderr (expect_rc keeps it) says why, in CI's log too.
    [ -s "$work/err" ] && head -n 5 "$work/err" | sed 's/^/    stderr: /'
    return 0
}
expect_rc() { local want=$1; shift; "$@" >"$work/out" 2>"$work/err"; [ $? -eq "$want" ]; }
wait_for() {  # seconds, command: poll until it succeeds
    local n=$(($1 * 20)); shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}
# write_vif_test_script: $work/vif-test, a vif hotplug script that records
# each call ("<command> <vif> <XENBUS_PATH>") in $work/vif.log and, on
# online, reports connected, as Xen's scripts do.
write_vif_test_script() {
    cat >"$work/vif-test" <<SCRIPT
#!/bin/sh
echo "\$1 \$vif \$XENBUS_PATH" >>"$work/vif.log"
[ "\$1" = online ] && xenstore-write "\$XENBUS_PATH/hotplug-status" connected
exit 0
SCRIPT
    chmod +x "$work/vif-test"
}

# guest_cfg NAME ELF MEMORY_MIB [cfg lines...] -> path of a PVH config file
guest_cfg() {
    local name=$1 elf=$2 mem=$3; shift 3
    local cfg="$work/$name.cfg"
    { echo "name = \"$name\""; echo 'type = "pvh"'; echo "kernel = \"$build/guests/$elf.elf\""
      echo "memory = $mem"; for l in "$@"; do echo "$l"; done; } >"$cfg"
    echo "$cfg"
}
# summary SUITE: prints the tally; the suite's exit status
summary() { echo "$1: $passed passed, $failed failed, $skipped skipped"; [ "$failed" -eq 0 ]; }
