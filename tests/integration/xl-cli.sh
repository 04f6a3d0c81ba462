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

# Errors: unknown domains, bad configs, bad kernels — clear message, exit 1,
# and nothing left behind.
check "destroy unknown" expect_rc 1 "$xl" destroy nosuch
check "invalid identifier message" grep -q 'nosuch is an invalid domain identifier (rc=-6)' "$work/err"
check "domname unknown" expect_rc 1 "$xl" domname 4242
printf 'name = "bad"\nmemory = = 3\n' >"$work/bad.cfg"
check "syntax error exits 1" expect_rc 1 "$xl" create "$work/bad.cfg"
check "syntax error names file:line" grep -q "bad.cfg:2" "$work/err"
printf 'name = "nokernel"\ntype="pvh"\nkernel = "/nonexistent/vmlinuz"\nmemory=32\n' >"$work/nok.cfg"
check "missing kernel exits 1" expect_rc 1 "$xl" create "$work/nok.cfg"
check "missing kernel message names the file" grep -q "/nonexistent/vmlinuz" "$work/err"
head -c 4096 /dev/urandom >"$work/junk.elf"
printf 'name = "junk"\ntype="pvh"\nkernel = "%s"\nmemory=32\n' "$work/junk.elf" >"$work/junk.cfg"
check "garbage kernel exits 1" expect_rc 1 "$xl" create "$work/junk.cfg"
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
printf 'name = "cli-hvm2"\ntype = "hvm"\nmemory = 32\n' >"$work/hvm2.cfg"
check "hvm without firmware is refused clearly" expect_rc 1 "$xl" create "$work/hvm2.cfg"
check "hvm refusal names firmware_override" grep -q firmware_override "$work/err"

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
check "console of an unknown domain fails" expect_rc 1 "$xl" console nosuch

# Stopping xenolithd with domains running: they are destroyed, the socket
# goes, the console logs stay, and the process exits promptly.
cat >"$work/idle.cfg" <<CFG
name = "cli-idle"
type = "pvh"
kernel = "$build/guests/idle.elf"
memory = 8
CFG
check "idle domain starts" expect_rc 0 "$xl" create "$work/idle.cfg"
kill -TERM "$daemon"
stopped=no
for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || { stopped=yes; break; }; sleep 0.05; done
check "xenolithd exits on SIGTERM with a domain running" test "$stopped" = yes
check "the control socket is removed" test ! -e "$XENOLITH_RUN_DIR/xenolithd.sock"
check "the console log of the destroyed domain remains" test -f "$work/log/guest-cli-idle.log"
check "xl reports a stopped daemon clearly" expect_rc 1 "$xl" list
check "... naming the socket" grep -q 'cannot connect to xenolithd' "$work/err"

summary xl-cli
