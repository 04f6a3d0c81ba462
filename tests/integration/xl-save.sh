#!/usr/bin/env bash
# xl save, restore, migrate and migrate-receive through the real xl against
# real xenolithds: usage and exit statuses, xl's messages for missing
# domains and for missing, garbage and truncated save files, the daemon's
# save/restore requests (descriptor passing), migration through `-s` with
# a local "ssh" that runs the receiver against a second daemon. With KVM:
# a guest saved and restored answers on its console under its name, and
# migrates between the two daemons, with its memory, a counter, time and
# event delivery checked by the guest itself; the image restores into a
# restarted daemon; a guest's disk and vif come back attached after
# restore and migration. Both daemons run in a network namespace this
# suite creates and removes, so vif TAPs never touch the host's network.
#   xl-save.sh BUILD_DIR
set -u
ns=xlsave$$
have_netns=0
if command -v ip >/dev/null && ip netns add "$ns" 2>/dev/null; then
    have_netns=1
    daemon_netns=$ns
fi
source "$(dirname "$0")/lib.sh" "${1:?usage: xl-save.sh BUILD_DIR}" xl-save
ns_wrap=()
[ "$have_netns" = 1 ] && ns_wrap=(ip netns exec "$ns")

# A second daemon: the migration target.
run2="$work/run2"
"${ns_wrap[@]}" "$build/src/daemon/xenolithd" --run-dir "$run2" --log-dir "$work/log2" --xl-conf "$daemon_xl_conf" \
    >"$work/xenolithd2.log" 2>&1 &
daemon2=$!
cleanup_extra() {
    kill "$daemon2" 2>/dev/null; wait "$daemon2" 2>/dev/null
    stop_daemon
    [ "$have_netns" = 1 ] && ip netns del "$ns" 2>/dev/null
}
for _ in $(seq 100); do [ -S "$run2/xenolithd.sock" ] && break; sleep 0.05; done
xl_dir=$(dirname "$xl")
# `xl migrate -s "$to_run2" D "$path_host"` runs
#   exec env XENOLITH_RUN_DIR=<run2> PATH=<xl's dir>:$PATH xl migrate-receive
to_run2="env XENOLITH_RUN_DIR=$run2"
path_host="PATH=$xl_dir:$PATH"

# savefile PATH [mandatory optional_len_delta json|-] [tail bytes]: an xl
# save header (json "-": none), then 64 zero bytes standing for the stream.
savefile() {
    python3 - "$@" <<'PY'
import struct, sys
path = sys.argv[1]
mandatory = int(sys.argv[2], 0) if len(sys.argv) > 2 else 3
delta = int(sys.argv[3]) if len(sys.argv) > 3 else 0
cfg = sys.argv[4] if len(sys.argv) > 4 else '{"c_info":{"type":"pvh","name":"saved1"},"b_info":{"max_memkb":65536,"target_memkb":65536,"kernel":"/nonexistent/k.elf"}}'
opt = struct.pack("<I", 0) if cfg == "-" else struct.pack("<I", len(cfg) + 1) + cfg.encode() + b"\0"
hdr = b"Xen saved domain, xl format\n \0 \r" + struct.pack("<IIII", 0x01020304, mandatory, 0, len(opt) + delta)
open(path, "wb").write(hdr + opt + b"\0" * 64)
PY
}
has() { grep -qF -- "$1" "${2:-$work/err}"; }
out_has() { grep -qF -- "$1" "$work/out"; }

# ---- usage --------------------------------------------------------------
check "save: no operands exit 2" expect_rc 2 "$xl" save
check "... says how many" has "'xl save' requires at least 2 arguments."
check "... and prints the usage on stdout" out_has "Usage: xl [-vtTf] save [options] <Domain> <CheckpointFile> [<ConfigFile>]"
check "save: four operands exit 1 with the usage" expect_rc 1 "$xl" save a b c d
check "... on stdout" out_has "Save a domain state to restore later."
check "save: unknown option exit 2" expect_rc 2 "$xl" save -x 1 "$work/f"
check "... xl's message" has "option \`x' not supported."
check "restore: no operands exit 2" expect_rc 2 "$xl" restore
check "... says how many" has "'xl restore' requires at least 1 argument."
check "restore: three operands exit 1 with the usage" expect_rc 1 "$xl" restore a b c
check "... on stdout" out_has "Usage: xl [-vtTf] restore [options] [<ConfigFile>] <CheckpointFile>"
check "migrate: one operand exit 2" expect_rc 2 "$xl" migrate 1
check "... says how many" has "'xl migrate' requires at least 2 arguments."
check "migrate-receive: an operand exit 1 with the usage" expect_rc 1 "$xl" migrate-receive x
check "... on stdout" out_has "migrate-receive - for internal use only"
check "migrate-receive -r (Remus) is refused" expect_rc 1 "$xl" migrate-receive -r </dev/null
check "xl help lists save" grep -qE '^ save +Save a domain state to restore later$' <("$xl" help)
check "xl help lists migrate-receive" grep -qE '^ migrate-receive +Restore a domain from a saved state$' <("$xl" help)

# ---- xl save of a domain that is not there ----------------------------------
check "save of a missing domid exits 1" expect_rc 1 "$xl" save 77 "$work/s77"
check "... as xl: unable to retrieve domain configuration" has "unable to retrieve domain configuration"
check "... before the file is created" test ! -e "$work/s77"
check "save of a missing name exits 1" expect_rc 1 "$xl" save nosuch "$work/s-nosuch"
check "... invalid domain identifier" has "nosuch is an invalid domain identifier (rc=-6)"
check "save with an unreadable config file exits 1" expect_rc 1 "$xl" save 77 "$work/s77" "$work/nope.cfg"
check "... unable to read overridden config file" has "unable to read overridden config file"

# ---- xl restore of bad files ---------------------------------------------------
check "restore of a missing file exits 1" expect_rc 1 "$xl" restore "$work/missing.save"
check "... Can't open restore file" has "Can't open restore file: No such file or directory"
head -c 200 /dev/urandom >"$work/garbage.save"
check "restore of garbage exits 1" expect_rc 1 "$xl" restore "$work/garbage.save"
check "... wrong magic" has "File has wrong magic number - corrupt or for a different tool?"
printf 'Xen saved domain, xl format\n \0 \r\4\3' >"$work/short.save"
check "restore of a truncated header exits 1" expect_rc 1 "$xl" restore "$work/short.save"
check "... libxl's truncation line" has "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading header from $work/short.save"
check "... and xl's fatal error" has 'xl: fatal error: xl_vmcontrol.c:713: Protocol error: libxl_read_exactly( ctx, restore_fd, &hdr, sizeof(hdr), restore_source, "header")'
python3 -c 'import sys,struct; open(sys.argv[1],"wb").write(b"Xen saved domain, xl format\n \0 \r"+struct.pack(">IIII",0x01020304,3,0,0))' "$work/be.save"
check "restore of a big-endian file exits 1" expect_rc 1 "$xl" restore "$work/be.save"
check "... wrong byte order" has "File has wrong byte order"
savefile "$work/flags.save" 0x7
check "restore with an unknown mandatory flag exits 1" expect_rc 1 "$xl" restore "$work/flags.save"
check "... names it" has "Savefile has mandatory flag(s) 0x4 which are not supported; need newer xl"
check "... after the Loading line" has "Loading new save file $work/flags.save (new xl fmt info 0x7/0x0/"
savefile "$work/optshort.save" 3 100000
check "restore with truncated optional data exits 1" expect_rc 1 "$xl" restore "$work/optshort.save"
check "... truncated reading optdata" has "file/stream truncated reading optdata from $work/optshort.save"
python3 -c 'import sys,struct; opt=struct.pack("<I",500)+b"{}"; open(sys.argv[1],"wb").write(b"Xen saved domain, xl format\n \0 \r"+struct.pack("<IIII",0x01020304,3,0,len(opt))+opt)' "$work/cfgshort.save"
check "restore with a config longer than its data exits 1" expect_rc 1 "$xl" restore "$work/cfgshort.save"
check "... Savefile truncated." has "Savefile truncated."
savefile "$work/noconfig.save" 2 0 -
check "restore of a file without config exits 1" expect_rc 1 "$xl" restore "$work/noconfig.save"
check "... Config file not specified and none in save file" has "Config file not specified and none in save file"
savefile "$work/noname.save" 3 0 '{"c_info":{"type":"pvh"},"b_info":{"max_memkb":65536}}'
check "restore of a config without a name exits 1" expect_rc 1 "$xl" restore "$work/noname.save"
check "... names the field" has "<saved>: c_info.name: missing"
savefile "$work/good.save"
check "restore with a missing config file exits 1" expect_rc 1 "$xl" restore "$work/nope.cfg" "$work/good.save"
check "... Failed to read config file" has "Failed to read config file: $work/nope.cfg: No such file or directory"
if [ "$XENOLITH_HAVE_KVM" = 0 ]; then
    check "restore without KVM exits 1" expect_rc 1 "$xl" restore "$work/good.save"
    check "... the Loading line" has "Loading new save file $work/good.save (new xl fmt info 0x3/0x0/"
    check "... Savefile contains xl domain config" has " Savefile contains xl domain config in JSON format"
    check "... Parsing config from <saved>" has "Parsing config from <saved>"
    check "... create's error" has "cannot create domain: no usable /dev/kvm"
    "$xl" restore -d "$work/good.save" 2>"$work/err"
    check "restore -d prints the saved config as JSON on stderr" has '"name": "saved1"'
fi

# ---- the daemon's requests, spoken directly ---------------------------------
# ask JSON: one request on a fresh connection; prints the first reply.
ask() {
    python3 - "$XENOLITH_RUN_DIR/xenolithd.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
PY
}
check "save without a domid is refused" grep -q '"save: no domid"' <(ask '{"cmd":"save"}')
check "save of a missing domid: xl's message" grep -q 'unable to retrieve domain configuration' <(ask '{"cmd":"save","domid":77}')
check "save with a bad 'after' is refused" grep -q 'must be \\"destroy\\"' <(ask '{"cmd":"save","domid":77,"after":"explode"}')
check "save with a non-boolean 'live' is refused" grep -q 'live' <(ask '{"cmd":"save","domid":77,"live":3}')
check "save with a config override that is not an object is refused" grep -q 'must be a libxl configuration object' <(ask '{"cmd":"save","domid":77,"config":3}')
check "save with a config override of a missing domid: xl's message" grep -q 'unable to retrieve domain configuration' <(ask '{"cmd":"save","domid":77,"config":{}}')
check "resume_suspended of a missing domid" grep -q 'invalid domain identifier' <(ask '{"cmd":"resume_suspended","domid":77}')
check "restore with a bad request is refused before the stream" grep -q '"ok":false' <(ask '{"cmd":"restore"}')
if [ "$XENOLITH_HAVE_KVM" = 0 ]; then
    check "restore without KVM fails as create, before asking for the stream" \
        grep -q 'cannot create domain: no usable /dev/kvm' \
        <(ask '{"cmd":"restore","name":"r","kernel":"/k","memory_kib":65536}')
fi

# ---- migrate and migrate-receive without a guest -------------------------------
marker="$work/receiver-ran"
check "migrate of a missing domid exits 1" expect_rc 1 "$xl" migrate -s "touch $marker; :" 77 host
check "... unable to retrieve domain configuration" has "unable to retrieve domain configuration"
check "... without running the receiver" test ! -e "$marker"
check "migrate of a missing name exits 1" expect_rc 1 "$xl" migrate -s "$to_run2" nosuch "$path_host"
check "... invalid domain identifier" has "nosuch is an invalid domain identifier (rc=-6)"
"$xl" migrate-receive <"$work/garbage.save" >"$work/recv.out" 2>"$work/err"
check "migrate-receive of garbage exits 1" test $? -eq 1
check "... after sending the banner" grep -q 'xl migration receiver ready, send binary domain data' "$work/recv.out"
check "... migration target: Ready to receive domain." has "migration target: Ready to receive domain."
check "... wrong magic" has "File has wrong magic number - corrupt or for a different tool?"
check "... Domain creation failed (code -6)" has "migration target: Domain creation failed (code -6)."
XENOLITH_RUN_DIR="$run2" "$xl" migrate-receive <"$work/good.save" >"$work/recv.out" 2>"$work/err"
check "migrate-receive of a stream it cannot restore exits 1" test $? -eq 1
check "... reads the header from the stream" has "Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/"
check "... Domain creation failed (code -3)" has "migration target: Domain creation failed (code -3)."
check "... and leaves no domain behind" bash -c "! XENOLITH_RUN_DIR='$run2' '$xl' list | grep -q saved1"
if [ "$XENOLITH_HAVE_KVM" = 0 ]; then
    check "... (create's KVM error)" has "cannot create domain: no usable /dev/kvm"
fi

# ---- guests: save, restore, migrate -------------------------------------------
if needs_kvm "save/restore/migrate of a running guest"; then
    # pvsuspend answers "ping" on its console with "pong" and suspends when
    # asked: it must still answer after each move, and it checks its memory
    # (a pattern, and 2 MiB it keeps dirtying), a counter, time, a timer
    # VIRQ and an IPI after each resume.
    cfg=$(guest_cfg sr-guest pvsuspend 32 'extra = "dirty=2"')
    "$xl" create -q "$cfg"
    check "guest is waiting" wait_for 20 grep -q 'type ping' "$work/log/guest-sr-guest.log"
    first=$("$xl" domid sr-guest)

    check "save -c exits 0" expect_rc 0 "$xl" save -c sr-guest "$work/sr-c.save"
    check "... Saving to ... new xl format" has "Saving to $work/sr-c.save new xl format (info 0x3/0x0/"
    check "... the guest runs on" test "$("$xl" domid sr-guest)" = "$first"
    check "... and saw its suspend cancelled (SCHEDOP_shutdown returned 1)" \
        wait_for 10 grep -q 'suspend cancelled, running on' "$work/log/guest-sr-guest.log"
    check "... the file starts with xl's magic" \
        bash -c "head -c 27 '$work/sr-c.save' | grep -q 'Xen saved domain, xl format'"
    check "... mode 0644" test "$(stat -c %a "$work/sr-c.save")" = 644

    # The daemon refuses descriptors it cannot write the image to.
    fdask() {  # JSON, then a python expression opening the file to pass
        python3 - "$XENOLITH_RUN_DIR/xenolithd.sock" "$1" "$2" <<'PY'
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
f = s.makefile()
first = json.loads(f.readline())
if first.get("send_fd"):
    fd = eval(sys.argv[3])
    socket.send_fds(s, [b"F"], [fd])
    print(f.readline().strip())
else:
    print(json.dumps(first))
PY
    }
    id=$("$xl" domid sr-guest)
    check "save into a directory descriptor is refused" grep -q 'not a pipe, socket or regular file' \
        <(fdask "{\"cmd\":\"save\",\"domid\":$id,\"after\":\"resume\"}" "os.open('$work', os.O_RDONLY)")
    check "save into a read-only descriptor is refused" grep -q 'not open for writing' \
        <(fdask "{\"cmd\":\"save\",\"domid\":$id,\"after\":\"resume\"}" "os.open('$work/sr-c.save', os.O_RDONLY)")
    check "... and the guest still runs" test "$("$xl" domid sr-guest)" = "$id"

    check "save (destroy) exits 0" expect_rc 0 "$xl" save sr-guest "$work/sr.save"
    check "... the domain is gone" expect_rc 1 "$xl" domid sr-guest
    check "restore exits 0" expect_rc 0 "$xl" restore "$work/sr.save"
    check "... Loading new save file" has "Loading new save file $work/sr.save (new xl fmt info 0x3/0x0/"
    check "... the guest is back under its name" wait_for 10 "$xl" domid sr-guest
    check "... running (not paused)" bash -c "'$xl' list sr-guest | awk 'NR==2 {exit !(\$5 !~ /p/)}'"
    check "... resumed in the new domain (SCHEDOP_shutdown returned 0)" \
        wait_for 10 grep -q 'resumed in a new domain' "$work/log/guest-sr-guest.log"
    check "... with memory, counter, timer and IPI as they should be" \
        wait_for 10 grep -q 'memory, counter, timer and IPI checked' "$work/log/guest-sr-guest.log"
    (sleep 1; echo ping) | timeout 60 "$xl" console sr-guest >"$work/out" 2>&1
    check "... and its console answers (ping -> pong)" grep -q '^pong' "$work/out"
    "$xl" destroy sr-guest

    # The image outlives the daemon that wrote it.
    stop_daemon
    check "the socket is gone with the daemon" test ! -S "$XENOLITH_RUN_DIR/xenolithd.sock"
    start_daemon
    check "restore into a restarted xenolithd exits 0" expect_rc 0 "$xl" restore "$work/sr.save"
    check "... the guest resumed there" wait_for 10 bash -c \
        "grep -c 'memory, counter, timer and IPI checked' '$work/log/guest-sr-guest.log' | grep -qx 2"
    (sleep 1; echo ping) | timeout 60 "$xl" console sr-guest >"$work/out" 2>&1
    check "... and its console answers (ping -> pong)" grep -q '^pong' "$work/out"
    "$xl" destroy sr-guest

    check "restore -p of the checkpoint exits 0" expect_rc 0 "$xl" restore -p "$work/sr-c.save"
    check "... left paused" bash -c "'$xl' list sr-guest | awk 'NR==2 {exit !(\$5 ~ /p/)}'"
    "$xl" unpause sr-guest

    # Migration to the second daemon through a local "ssh".
    check "migrate exits 0" expect_rc 0 "$xl" migrate -s "$to_run2" sr-guest "$path_host"
    check "... Migration successful." has "Migration successful."
    check "... the sender's copy is gone" expect_rc 1 "$xl" domid sr-guest
    check "... no --migratedaway left" bash -c "! '$xl' list | grep -q migratedaway"
    check "... the receiver runs it under its name" \
        bash -c "XENOLITH_RUN_DIR='$run2' '$xl' domid sr-guest"
    (sleep 1; echo ping) | XENOLITH_RUN_DIR="$run2" timeout 60 "$xl" console sr-guest >"$work/out" 2>&1
    check "... and its console answers there (ping -> pong)" grep -q '^pong' "$work/out"
    # Its console log keeps the name the domain was received under, as
    # xenconsoled's does.
    check "... after resuming there" grep -q 'resumed in a new domain' "$work/log2/guest-sr-guest--incoming.log"
    check "... with its state checked" \
        wait_for 10 grep -q 'memory, counter, timer and IPI checked' "$work/log2/guest-sr-guest--incoming.log"
    check "... and no check failed" bash -c "! grep -qi 'fail' '$work/log2/guest-sr-guest--incoming.log'"
    XENOLITH_RUN_DIR="$run2" "$xl" destroy sr-guest

    # A receiver that fails: the sender resumes its copy.
    "$xl" create -q "$cfg"
    check "migrate to a failing receiver exits 1" expect_rc 1 "$xl" migrate -s "false #" sr-guest x
    check "... the sender keeps the domain, running" test -n "$("$xl" domid sr-guest)"
    check "... under its own name" bash -c "! '$xl' list | grep -q migratedaway"
    wait_for 20 grep -c 'ready;' "$work/log/guest-sr-guest.log" >/dev/null

    # A receiver that dies in the middle of the stream (after 1 MB): the
    # sender resumes its guest, the receiver keeps no half-made domain.
    check "migrate to a receiver that dies mid-stream exits 1" expect_rc 1 "$xl" migrate -s \
        "sh -c 'head -c 1000000 | env XENOLITH_RUN_DIR=$run2 PATH=$xl_dir:\$PATH xl migrate-receive' #" sr-guest x
    check "... the sender's guest runs on" bash -c "'$xl' list sr-guest | awk 'NR==2 {exit !(\$5 !~ /p/)}'"
    check "... saw its suspend cancelled" wait_for 10 bash -c \
        "grep -c 'suspend cancelled, running on' '$work/log/guest-sr-guest.log' | grep -qx 2"
    check "... the receiver kept nothing" wait_for 10 bash -c "! XENOLITH_RUN_DIR='$run2' '$xl' list | grep -q sr-guest"

    # A save onto a full file system fails; the guest runs on.
    mkdir -p "$work/full"
    if mount -t tmpfs -o size=1m tmpfs "$work/full" 2>/dev/null; then
        check "save onto a full file system exits 1" expect_rc 1 "$xl" save sr-guest "$work/full/sr.save"
        check "... saying so" grep -q 'No space left on device' "$work/err"
        check "... the guest runs on, resumed" bash -c "'$xl' list sr-guest | awk 'NR==2 {exit !(\$5 !~ /p/)}'"
        (sleep 1; echo ping) | timeout 60 "$xl" console sr-guest >"$work/out" 2>&1
        check "... and its console answers (ping -> pong)" grep -q '^pong' "$work/out"
        umount "$work/full"
    else
        skip "save onto a full file system (cannot mount a tmpfs here)"
    fi
    "$xl" destroy sr-guest
fi

# ---- a guest with a disk and a vif --------------------------------------------
if needs_kvm "save/restore/migrate with a disk and a vif"; then
    write_vif_test_script
    truncate -s 8M "$work/dv.img"
    vif_line=() extra=disk
    if [ "$have_netns" = 1 ]; then
        vif_line=("vif = [ 'mac=00:16:3e:00:00:07,script=$work/vif-test' ]")
        extra="disk net"
    else
        skip "the vif half (no network namespace here)"
    fi
    # The guest writes to its disk through the kit's blkfront all along, and
    # reads every acknowledged write back after each resume. With the vif
    # it broadcasts a numbered frame through the kit's netfront all along
    # and answers ping frames (tap-echo.py is the TAP's end).
    cfg=$(guest_cfg dv pvsuspend 32 "extra = \"$extra\"" "disk = [ '$work/dv.img,raw,xvda,rw' ]" "${vif_line[@]}")
    in_ns() { "${ns_wrap[@]}" "$@"; }
    tap_echo() { in_ns python3 "$(dirname "$0")/tap-echo.py" "$@"; }
    # net_echo TAP N OUT: a guest frame seen on TAP and "ping N" answered
    # "pong N", tap-echo's lines in OUT; then its checks.
    net_echo() {
        local tap=$1 n=$2 out=$3
        tap_echo ping "$tap" "$n" >"$out" 2>&1
        check "... a frame from the guest arrives on $tap" grep -qE '^beacon [0-9]+ 00:16:3e:00:00:07$' "$out"
        check "... and it answers ping $n with pong $n there" grep -qx "pong $n" "$out"
    }
    # beacon_seq OUT: the guest's sequence number in tap-echo's first beacon line.
    beacon_seq() { awk '/^beacon / {print $2; exit}' "$1"; }
    # devices RUN_DIR DOMID: block-list and network-list rows, back-ends offered.
    xs_at() { XENSTORED_PATH=$1/xenstored/socket xenstore-read "$2" 2>/dev/null; }
    devices_back() {
        local run=$1 id=$2
        XENOLITH_RUN_DIR=$run "$xl" block-list dv | grep -qE "^51712 +0 +$id +" || return 1
        # InitWait, or Connected once the guest's blkfront has connected.
        case $(xs_at "$run" "/local/domain/0/backend/vbd/$id/51712/state") in 2 | 4) ;; *) return 1 ;; esac
        test "$(xs_at "$run" "/local/domain/0/backend/vbd/$id/51712/params")" = "$work/dv.img" || return 1
        [ "$have_netns" = 1 ] || return 0
        XENOLITH_RUN_DIR=$run "$xl" network-list dv | grep -qE "^0 +0 +00:16:3e:00:00:07 " || return 1
        # InitWait, or Connected once the guest's netfront has connected.
        case $(xs_at "$run" "/local/domain/0/backend/vif/$id/0/state") in 2 | 4) ;; *) return 1 ;; esac
        in_ns ip link show dev "vif$id.0" >/dev/null 2>&1
    }
    "$xl" create -q "$cfg"
    id=$("$xl" domid dv)
    check "a guest with a disk and a vif" wait_for 10 devices_back "$XENOLITH_RUN_DIR" "$id"
    check "... its blkfront connected to blkback" wait_for 10 grep -q 'disk connected, 16384 sectors' "$work/log/guest-dv.log"
    if [ "$have_netns" = 1 ]; then
        check "... its netfront connected to netback" \
            wait_for 10 grep -q 'net connected, mac 00:16:3e:00:00:07' "$work/log/guest-dv.log"
        net_echo "vif$id.0" 1 "$work/net-boot.out"
    fi
    sleep 1  # writes going on
    check "save exits 0" expect_rc 0 "$xl" save dv "$work/dv.save"
    check "... its back-end went with it" wait_for 10 test "$(pgrep -P "$daemon" -f "xenolith-blkback --frontend-domid=$id " | wc -l)" -eq 0
    [ "$have_netns" = 1 ] && check "... and its TAP" bash -c "! ${ns_wrap[*]} ip link show dev vif$id.0 2>/dev/null"
    check "restore exits 0" expect_rc 0 "$xl" restore "$work/dv.save"
    id=$("$xl" domid dv)
    check "... disk and vif attached again, back-ends waiting for the front-ends" \
        wait_for 10 devices_back "$XENOLITH_RUN_DIR" "$id"
    [ "$have_netns" = 1 ] && check "... the vif script ran online for it" grep -qx "online vif$id.0 backend/vif/$id/0" "$work/vif.log"
    check "... the guest resumed" wait_for 10 grep -q 'memory, counter, timer and IPI checked' "$work/log/guest-dv.log"
    check "... reconnected its disk and read every acknowledged write back" \
        grep -qE 'disk: [0-9]+ writes, every acknowledged one read back' "$work/log/guest-dv.log"
    if [ "$have_netns" = 1 ]; then
        check "... reconnected its vif" grep -q 'net reconnected' "$work/log/guest-dv.log"
        net_echo "vif$id.0" 2 "$work/net-restored.out"
        check "... its frame numbers ran on from before the save" \
            test "$(beacon_seq "$work/net-restored.out")" -gt "$(beacon_seq "$work/net-boot.out")"
        # What the guest sends while it migrates, on the sender's TAP
        # (the watch ends when the TAP goes with the sender's back-end;
        # started without tap_echo's function so that $! is the helper).
        "${ns_wrap[@]}" python3 "$(dirname "$0")/tap-echo.py" watch "vif$id.0" 120 >"$work/net-migrating.out" 2>&1 &
        watcher=$!
        wait_for 10 grep -q '^beacon' "$work/net-migrating.out"
    fi
    sleep 1
    # Through a 1 MB/s link: the live phase (~1.5 s for this guest's stream)
    # is long enough for its disk and vif I/O to run during it.
    cat >"$work/slow-pipe" <<'PY'
#!/usr/bin/env python3
# slow-pipe RATE: stdin to stdout at RATE bytes/s.
import os, sys, time
rate, start, sent = int(sys.argv[1]), time.monotonic(), 0
while chunk := os.read(0, 65536):
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    sent += len(chunk)
    time.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
PY
    chmod +x "$work/slow-pipe"
    migrate_start=$(date +%s.%N)
    check "migrate over a slow link exits 0" expect_rc 0 "$xl" migrate -s \
        "sh -c '$work/slow-pipe 1000000 | env XENOLITH_RUN_DIR=$run2 PATH=$xl_dir:\$PATH xl migrate-receive' #" dv x
    migrate_end=$(date +%s.%N)
    id2=$(XENOLITH_RUN_DIR="$run2" "$xl" domid dv)
    check "... the receiver attached the same disk and vif" wait_for 10 devices_back "$run2" "$id2"
    check "... the guest reconnected its disk there, no acknowledged write lost" wait_for 10 \
        bash -c "grep -cE 'disk: [0-9]+ writes, every acknowledged one read back' '$work/log2/guest-dv--incoming.log' | grep -qx 1"
    check "... and no check failed" bash -c "! grep -qi 'fail' '$work/log/guest-dv.log' '$work/log2/guest-dv--incoming.log'"
    check "... the sender's TAP is gone" bash -c "! ${ns_wrap[*]} ip link show dev vif$id.0 2>/dev/null"
    if [ "$have_netns" = 1 ]; then
        wait_for 10 bash -c "! kill -0 $watcher" || kill "$watcher"
        wait "$watcher" 2>/dev/null
        check "... the guest reconnected its vif there" \
            wait_for 10 grep -q 'net reconnected' "$work/log2/guest-dv--incoming.log"
        net_echo "vif$id2.0" 3 "$work/net-migrated.out"
        # "beacon SEQ TIME" lines on the sender's TAP: some sent while xl
        # migrate ran (~25 in its live phase over the slow link), none missing,
        # up to the last the guest sent before it suspended (its summary
        # in the new domain says which), and the receiver's first above it.
        check "... the guest sent frames while it migrated, every number in order" awk -v t0="$migrate_start" \
            -v t1="$migrate_end" '$1 == "beacon" { if (last && $2 != last + 1) gap = 1; last = $2; if ($3 >= t0 && $3 <= t1) n++ }
            END { exit !(n >= 5 && !gap) }' "$work/net-migrating.out"
        last_sent=$(sed -nE 's/.*net: [0-9]+ frames sent, the last numbered ([0-9]+),.*/\1/p' \
            "$work/log2/guest-dv--incoming.log" | head -n 1)
        check "... up to the last it sent before it suspended" \
            test "$(awk '/^beacon / {s = $2} END {print s + 0}' "$work/net-migrating.out")" = "${last_sent:-none}"
        check "... and its numbers ran on across the migration" \
            test "$(beacon_seq "$work/net-migrated.out")" -gt "${last_sent:-999999999}"
    fi
    XENOLITH_RUN_DIR="$run2" "$xl" destroy dv
fi

summary xl-save
