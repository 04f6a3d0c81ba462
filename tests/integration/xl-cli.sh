#!/usr/bin/env bash
# Drives the real xl against a real xenolithd the way a user would and
# checks outputs and exit codes against Xen's.
#   xl-cli.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: xl-cli.sh BUILD_DIR}" xl

cat >"$work/demo.cfg" <<CFG
name = "cli-demo"
type = "pvh"
kernel = "$build/guests/demo.elf"
memory = 32
extra = "from the cli test"
CFG

# xl list: Xen's header and the host as Domain-0.
"$xl" list >"$work/list" 2>&1
check "list header" grep -qP '^Name {40}ID   Mem VCPUs\tState\tTime\(s\)$' "$work/list"
check "Domain-0 line" grep -qE '^Domain-0 {33} {4}0 +[0-9]+ +[0-9]+     r-----  +[0-9]+\.[0-9]$' "$work/list"

if needs_kvm "guests through xl create, create -p and create -c"; then
    # create -p: the domain exists, paused ('p'), then runs and powers off.
    check "create -p" expect_rc 0 "$xl" create -p "$work/demo.cfg"
    "$xl" list cli-demo >"$work/list2"
    check "paused state letters" grep -qE '^cli-demo +[0-9]+ +32 +1     --p---  ' "$work/list2"
    id=$("$xl" domid cli-demo)
    check "domid prints the id" test -n "$id"
    check "domname round-trips" test "$("$xl" domname "$id")" = cli-demo
    check "uptime lists it" grep -q '^cli-demo ' <("$xl" uptime)
    check "list -l is JSON with the config" grep -q '"name": "cli-demo"' <("$xl" list -l cli-demo)
    check "unpause" expect_rc 0 "$xl" unpause cli-demo
    for _ in $(seq 100); do "$xl" domid cli-demo >/dev/null 2>&1 || break; sleep 0.05; done
    check "poweroff destroys it (on_poweroff=destroy)" expect_rc 1 "$xl" domid cli-demo
    check "domid error message" grep -q "Can't get domid of domain name 'cli-demo', maybe this domain does not exist." "$work/err"
    check "console log kept" grep -q 'Test result: SUCCESS' "$work/log/guest-cli-demo.log"
    check "dmesg has the guest's console_io" grep -q 'from the cli test' <("$xl" dmesg)

    # create -c with overrides: the override reaches the guest.
    check "create -c with key=value override" expect_rc 0 "$xl" create -c "$work/demo.cfg" 'extra="overridden"'
    check "override in console output" grep -q 'command line: "overridden"' "$work/out"
fi

# Without KVM the daemon still answers, and create fails before anything
# is made: no domid, no xenstore nodes.
if [ "$XENOLITH_HAVE_KVM" = 0 ]; then
    check "no KVM: create exits 1" expect_rc 1 "$xl" create "$work/demo.cfg"
    check "  naming /dev/kvm and why" grep -qE '^libxl: error: cannot create domain: no usable /dev/kvm \(.+\)$' "$work/err"
    check "  nothing listed" test "$("$xl" list | wc -l)" -eq 2
    check "  no xenstore nodes" test "$(xenstore-list /local/domain)" = 0
    check "  no /vm entry" test -z "$(xenstore-list /vm 2>/dev/null)"
    check "  xl dmesg says why" grep -q 'without KVM (.*/dev/kvm' <("$xl" dmesg)
    check "  xl info works" expect_rc 0 "$xl" info
    check "  with no hvm in virt_caps" grep -qE '^virt_caps +: gnttab-v1 gnttab-v2$' "$work/out"
fi

# Errors: unknown domains, bad configs, bad kernels — clear message, exit 1,
# and nothing left behind.
check "destroy unknown" expect_rc 1 "$xl" destroy nosuch
check "invalid identifier message" grep -q 'nosuch is an invalid domain identifier (rc=-6)' "$work/err"
check "domname unknown" expect_rc 1 "$xl" domname 4242
printf 'name = "bad"\nmemory = = 3\n' >"$work/bad.cfg"
check "syntax error exits 1" expect_rc 1 "$xl" create "$work/bad.cfg"
check "syntax error names file:line" grep -q "bad.cfg:2" "$work/err"
if needs_kvm "kernel files refused by the domain builder"; then
    printf 'name = "nokernel"\ntype="pvh"\nkernel = "/nonexistent/vmlinuz"\nmemory=32\n' >"$work/nok.cfg"
    check "missing kernel exits 1" expect_rc 1 "$xl" create "$work/nok.cfg"
    check "missing kernel message names the file" grep -q "/nonexistent/vmlinuz" "$work/err"
    head -c 4096 /dev/urandom >"$work/junk.elf"
    printf 'name = "junk"\ntype="pvh"\nkernel = "%s"\nmemory=32\n' "$work/junk.elf" >"$work/junk.cfg"
    check "garbage kernel exits 1" expect_rc 1 "$xl" create "$work/junk.cfg"
fi

check "no half-made domain" test "$("$xl" list | wc -l)" -eq 2
check "dry run prints JSON" grep -q '"name"' <("$xl" create -n "$work/demo.cfg" 2>/dev/null)
check "unknown command" expect_rc 1 "$xl" frobnicate
check "help" expect_rc 0 "$xl" help
check "xl help CMD prints xl's usage block" expect_rc 0 "$xl" help create
check "... with the f and N flags of xl_cmdtable" \
    grep -qxF 'Usage: xl [-vtTfN] create <ConfigFile> [options] [vars]' "$work/out"
check "xl CMD -h is the same" expect_rc 0 "$xl" list -h
check "... (list modifies nothing: no f, no N)" grep -qxF 'Usage: xl [-vtT] list [options] [Domain]' "$work/out"
check "xl help of an unknown command says so" expect_rc 0 "$xl" help frobnicate
check "... as xl does" grep -qxF 'command "frobnicate" not implemented' "$work/out"

if needs_kvm "hvm + firmware_override boots"; then
    # type="hvm" with firmware_override naming a PVH ELF boots the same way
    # (the form Xen's own test framework uses).
    cat >"$work/hvm.cfg" <<CFG
name = "cli-hvm"
type = "hvm"
firmware_override = "$build/guests/demo.elf"
memory = 32
CFG
    check "hvm + firmware_override boots the PVH ELF" expect_rc 0 "$xl" create -c "$work/hvm.cfg"
    check "hvm guest reached SUCCESS" grep -q 'Test result: SUCCESS' "$work/out"
fi

printf 'name = "cli-hvm2"\ntype = "hvm"\nmemory = 32\n' >"$work/hvm2.cfg"
check "hvm without firmware is refused clearly" expect_rc 1 "$xl" create "$work/hvm2.cfg"
check "hvm refusal names firmware_override" grep -q firmware_override "$work/err"

if needs_kvm "interactive consoles of running guests"; then
    # Interactive console: keystrokes reach the guest's input ring, through
    # `xl create -c` and through a later `xl console`; Ctrl-] detaches.
    cat >"$work/input.cfg" <<CFG
name = "cli-input"
type = "pvh"
kernel = "$build/guests/console_input.elf"
memory = 16
CFG
    (sleep 1; echo ping) | timeout 60 "$xl" create -c "$work/input.cfg" >"$work/out" 2>&1
    check "create -c forwards keystrokes (ping -> pong)" grep -q '^pong' "$work/out"
    check "console_input guest succeeded" grep -q 'Test result: SUCCESS' "$work/out"
    check "create without -c" expect_rc 0 "$xl" create "$work/input.cfg"
    (sleep 1; echo ping) | timeout 60 "$xl" console cli-input >"$work/out" 2>&1
    check "xl console attaches later and forwards keystrokes" grep -q '^pong' "$work/out"
    check "xl console shows output from before it attached" grep -q 'type ping' "$work/out"
    cat >"$work/idle2.cfg" <<CFG
name = "cli-idle2"
type = "pvh"
kernel = "$build/guests/idle.elf"
memory = 8
CFG
    "$xl" create -q "$work/idle2.cfg"
    printf '\035' | timeout 10 "$xl" console cli-idle2 >/dev/null 2>&1
    check "Ctrl-] leaves xl console (exit 0)" test $? -eq 0
    check "... and the domain keeps running" expect_rc 0 "$xl" domid cli-idle2
    "$xl" destroy cli-idle2
fi

check "console of an unknown domain fails" expect_rc 1 "$xl" console nosuch

# ---- xl's global options and -N (dry run), as Xen 4.17's xl main() ----
check "plain xl: the command list on stdout, exit 1" expect_rc 1 "$xl"
check "... on stdout" grep -qxF 'Usage xl [-vfNtT] <subcommand> [args]' "$work/out"
check "... nothing on stderr" test ! -s "$work/err"
check "unknown global option exits 1" expect_rc 1 "$xl" -x list
check "... getopt's line, then xl's" grep -qxF 'unknown global option' "$work/err"
check "... naming the letter" grep -qF "invalid option -- 'x'" "$work/err"
check "-A is not a 4.17 global option" expect_rc 1 "$xl" -A list
check "-v -t -T are accepted" expect_rc 0 "$xl" -v -t -T list
check "global options stop at the command (getopt +)" expect_rc 2 "$xl" list -x
check "... the command's own error" grep -qxF "option \`x' not supported." "$work/err"

# A running domain that every -N command below must leave alone.
dry=$(guest_cfg cli-dry idle 8 'disk = ["/dev/null,raw,xvda,w"]')
# Without KVM the -N and list checks still run; those on cli-dry are skipped.
dry_on=no dryid=
if needs_kvm "checks on the running domain cli-dry (-N, list -l/-Z/-c/-n, domids)"; then
    "$xl" create -q "$dry"
    dryid=$("$xl" domid cli-dry)
    dry_on=yes
fi
dry_check() { if [ "$dry_on" = yes ]; then check "$@"; fi; }
cmds=$("$xl" help | sed -n 's/^ \([a-z][a-z0-9-]*\) .*/\1/p')
check "xl help lists the commands" test "$(echo "$cmds" | wc -l)" -ge 20
refused_all=yes
for c in $cmds; do
    # xl_cmdtable.c's can_dryrun commands (cd-insert/-eject take -N and,
    # as in 4.17, act anyway: xl_cdrom.c never looks at dryrun_only).
    case $c in create|config-update|vcpu-pin|block-attach|network-attach|cd-insert|cd-eject) continue ;; esac
    # Arguments that would act on cli-dry if -N were ignored.
    timeout 10 "$xl" -N "$c" cli-dry 0 1 >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    if [ "$rc" != 1 ] || ! grep -qxF 'command does not implement -N (dryrun) option' "$work/err" \
        || [ -s "$work/out" ]; then
        echo "  -N $c: rc=$rc, $(head -c 200 "$work/err")"
        refused_all=no
    fi
done
check "-N is refused, with xl's message and exit 1, by every command without a dry run" \
    test "$refused_all" = yes
running() {  # NAME ID: the domain is there with that id, neither paused nor shut down
    grep -qE "^$1 +$2 +[0-9]+ +1     [-r][-b]----" <("$xl" list "$1")
}
dry_check "... and cli-dry still runs, same id, unpaused" running cli-dry "$dryid"
ndomains=$("$xl" list | wc -l)
check "-N create prints the config" expect_rc 0 "$xl" -N create -q "$dry"
check "... as libxl JSON" grep -qxF '        "name": "cli-dry",' "$work/out"
check "... and creates nothing" test "$("$xl" list | wc -l)" -eq "$ndomains"
check "create -n is the same dry run" expect_rc 0 "$xl" create -q -n "$dry"
check "... creating nothing" test "$("$xl" list | wc -l)" -eq "$ndomains"
dry_check "-N vcpu-pin prints the maps" expect_rc 0 "$xl" -N vcpu-pin cli-dry 0 0 -
dry_check "... as xl does" grep -qxF 'cpumap: 0' "$work/out"
dry_check "... and pins nothing" grep -qE '^cli-dry +[0-9]+ +0 .* all / all$' <("$xl" vcpu-list cli-dry)
dry_check "-N config-update shows the config" expect_rc 0 "$xl" -N config-update cli-dry "$dry"
dry_check "... as printf_info: domid null first" grep -qxF '    "domid": null,' "$work/out"
dry_check "... and stores nothing" bash -c "! grep -q 'setting dom' '$work/err'"

# ---- xl create -n: byte for byte what Xen 4.17's xl printed (see tests/unit/config) ----
golden="$(dirname "$0")/../unit/config/libxl_json"
for g in pvh-min hvm edge; do
    "$xl" create -q -n "$golden/$g.cfg" >"$work/$g.json" 2>/dev/null
    check "create -n $g.cfg is xl 4.17's output" cmp -s "$golden/$g.json" "$work/$g.json"
done
"$xl" create -q -n "$golden/nouuid.cfg" >"$work/nouuid.json" 2>/dev/null
check "create -n without uuid= prints a generated uuid, as xl" \
    grep -qE '^        "uuid": "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",$' \
    "$work/nouuid.json"
"$xl" list -l cli-dry >"$work/long"
dry_check "list -l: the live uuid" grep -qF "\"uuid\": \"$("$xl" list -v cli-dry | awk 'NR==2 {print $7}')\"" "$work/long"
tr -d ' \n' <"$work/long" >"$work/long.flat"
dry_check "list -l: credit2's scheduler parameters" \
    grep -qF '"sched_params":{"sched":"credit2","weight":256,"cap":0}' "$work/long.flat"
dry_check "list -l: domid before config, c_info in IDL order" \
    grep -qE '^\[\{"domid":[0-9]+,"config":\{"c_info":\{"type":"pvh","name":"cli-dry","uuid":' \
    "$work/long.flat"
dry_check "list -l: the attached disk" grep -qF '"disks":[{"pdev_path":"/dev/null","vdev":"xvda"' "$work/long.flat"
dry_check "list -l: no nics, as none were configured" bash -c "! grep -qF '\"nics\"' '$work/long'"
dry_check "list -l: ends as xl's puts() of yajl's buffer" \
    test "$(tail -c 5 "$work/long" | od -An -c | tr -d ' ')" = '}\n]\n\n'

# ---- messages and exit codes of xl 4.17 ----
check "create without a file: ERROR_INVAL (6)" expect_rc 6 "$xl" create
check "... xl's message" grep -qxF 'Config file not specified and none in save file' "$work/err"
check "create of a missing file: ERROR_FAIL (3)" expect_rc 3 "$xl" create /nonexistent.cfg
check "... xl's message" grep -qxF 'Failed to read config file: /nonexistent.cfg: No such file or directory' "$work/err"
check "... before 'Parsing config'" bash -c "! grep -q Parsing '$work/err'"
check "create of a directory: 3" expect_rc 3 "$xl" create "$work"
check "... Is a directory" grep -qxF "Failed to read config file: $work: Is a directory" "$work/err"
check "list of a domid nobody has" expect_rc 1 "$xl" list 99
check "... xl's message" grep -qxF "Error: Domain '99' does not exist." "$work/err"
check "list of a name nobody has" expect_rc 1 "$xl" list nosuch
check "... find_domain's message" grep -qxF 'nosuch is an invalid domain identifier (rc=-6)' "$work/err"
check "list a b: usage, exit 1" expect_rc 1 "$xl" list a b
check "... usage on stdout" grep -qxF 'Usage: xl [-vtT] list [options] [Domain]' "$work/out"
check "pause of a missing domid: xl ignores libxl's failure (exit 0)" expect_rc 0 "$xl" pause 99
check "... libxl's line" grep -qxF 'libxl: error: libxl_domain.c:587:libxl_domain_pause: Domain 99:Pausing domain: No such process' "$work/err"
check "unpause of a missing domid: exit 0" expect_rc 0 "$xl" unpause 99
check "... libxl's line" grep -qxF 'libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=99' "$work/err"
check "destroy of a missing domid: exit 1" expect_rc 1 "$xl" destroy 99
check "... libxl's lines, then xl's" grep -qxF 'destroy failed (rc=-21)' "$work/err"
check "... Domain N: prefix" grep -qxF 'libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain 99:Non-existant domain' "$work/err"
check "shutdown of a missing domid: exit 1" expect_rc 1 "$xl" shutdown 99
check "... libxl's type lookup fails first" grep -qxF 'libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=99' "$work/err"
check "... then xl's line" grep -qxF 'shutdown failed (rc=-3)' "$work/err"
check "destroy 0 without -f" expect_rc 1 "$xl" destroy 0
check "... xl's refusal" grep -qxF 'Not destroying domain 0; use -f to force.' "$work/err"
check "domid without an argument: 2" expect_rc 2 "$xl" domid
check "... xl's message" grep -qxF "'xl domid' requires at least 1 argument." "$work/err"
check "domname without an argument: 2" expect_rc 2 "$xl" domname
check "domname of no number" expect_rc 1 "$xl" domname abc
check "... xl's message" grep -qxF 'Invalid domain id.' "$work/err"
check "list -Z: the label column" grep -qP '^Name +ID +Mem VCPUs\tState\tTime\(s\)   Security Label$' <("$xl" list -Z)
dry_check "... '-' for every domain" grep -qE '^cli-dry .* +-$' <("$xl" list -Z cli-dry)
dry_check "list -c: the pool column" grep -qE '^cli-dry .*  +Pool-0$' <("$xl" list -c cli-dry)
dry_check "list -n: the node affinity column" grep -qE '^cli-dry .* all$' <("$xl" list -n cli-dry)

# ---- domids do not wrap, digits are never names ----
check "destroy domid+65536 does not reach the domain" expect_rc 1 "$xl" destroy $((dryid + 65536))
check "pause domid+65536 does not either" expect_rc 0 "$xl" pause $((dryid + 65536))
check "destroy of a 2^32+id domid neither" expect_rc 1 "$xl" destroy $((dryid + 4294967296))
dry_check "... cli-dry untouched" running cli-dry "$dryid"
other=$((dryid + 7))
if [ "$dry_on" = yes ] && expect_rc 0 "$xl" rename cli-dry "$other"; then
    check "after renaming a domain to $other, destroy $other is domid $other" expect_rc 1 "$xl" destroy "$other"
    check "... the renamed domain lives" expect_rc 0 "$xl" list "$dryid"
    "$xl" rename "$dryid" cli-dry
fi
# The daemon applies the same rule to what any client sends.
raw() {
    python3 - "$XENOLITH_RUN_DIR/xenolithd.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n"); print(s.makefile().readline().strip())
PY
}
check "daemon: pause of domain \"$((dryid + 65536))\" is refused" \
    grep -q '"ok":false' <(raw "{\"cmd\":\"pause\",\"domain\":\"$((dryid + 65536))\"}")
check "daemon: destroy of domain \"$((dryid + 4294967296))\" is refused" \
    grep -q '"ok":false' <(raw "{\"cmd\":\"destroy\",\"domain\":\"$((dryid + 4294967296))\"}")
dry_check "... cli-dry still runs unpaused" running cli-dry "$dryid"
[ "$dry_on" = yes ] && "$xl" destroy cli-dry

# Stopping xenolithd with domains running: they are destroyed, the socket
# goes, the console logs stay, and the process exits promptly.
running=no
if needs_kvm "xenolithd stopping with a domain running"; then
    cat >"$work/idle.cfg" <<CFG
name = "cli-idle"
type = "pvh"
kernel = "$build/guests/idle.elf"
memory = 8
CFG
    check "idle domain starts" expect_rc 0 "$xl" create "$work/idle.cfg"
    running=yes
fi
kill -TERM "$daemon"
stopped=no
for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || { stopped=yes; break; }; sleep 0.05; done
check "xenolithd exits on SIGTERM (with a domain running: $running)" test "$stopped" = yes
check "the control socket is removed" test ! -e "$XENOLITH_RUN_DIR/xenolithd.sock"
[ "$running" = yes ] &&
    check "the console log of the destroyed domain remains" test -f "$work/log/guest-cli-idle.log"
check "xl reports a stopped daemon clearly" expect_rc 1 "$xl" list
check "... naming the socket" grep -q 'cannot connect to xenolithd' "$work/err"

summary xl-cli
