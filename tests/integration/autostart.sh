#!/usr/bin/env bash
# xenolith-domains (the xendomains counterpart) against a private
# xenolithd: start in start_after order, status, skip what runs, stop in
# reverse order with a guest that ignores control/shutdown destroyed after
# its share of XENDOMAINS_STOP_MAXWAIT, other domains left or taken along,
# restart, and every refusal (cycles, missing dependencies, duplicate
# names, bad keys and settings, no daemon) with its message and exit code.
# Also checks dist/systemd/*.service with systemd-analyze verify.
#   autostart.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/lib.sh" "${1:?usage: autostart.sh BUILD_DIR}" autostart
xd="$build/src/toolstack/autostart/xenolith-domains"
# Under ASan/UBSan, reports of xenolith-domains and xl go to files, checked
# at the end (their stderr is compared exactly below).
export ASAN_OPTIONS="log_path=$work/sanitizer" UBSAN_OPTIONS="log_path=$work/sanitizer:print_stacktrace=1"
skipped=0
out_is() { [ "$(cat "$work/out")" = "$1" ] || { echo "  got:"; sed 's/^/    /' "$work/out"; return 1; }; }
err_is() { [ "$(cat "$work/err")" = "$1" ] || { echo "  got:"; sed 's/^/    /' "$work/err"; return 1; }; }
domid_of() { "$xl" domid "$1" 2>/dev/null; }
guests() { "$xl" list | awk 'NR > 1 {print $1}' | LC_ALL=C sort | tr '\n' ' '; }
dmesg_line() { "$xl" dmesg | grep -n "service $1: $2" | head -n 1 | cut -d: -f1; }
before() { local a b; a=$(dmesg_line "$1" "$3"); b=$(dmesg_line "$2" "$3"); [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; }

# auto_cfg DIR NAME [cfg lines...]: a service guest's config in DIR.
auto_cfg() {
    local dir=$1 name=$2; shift 2
    mkdir -p "$dir"
    { echo "name = \"$name\""; echo 'type = "pvh"'; echo "kernel = \"$build/guests/service.elf\""
      echo 'memory = 16'; for l in "$@"; do echo "$l"; done; } >"$dir/$name.cfg"
}
# settings FILE AUTO_DIR [lines...]
settings() {
    local file=$1 dir=$2; shift 2
    { echo "# test settings"; echo "XENDOMAINS_AUTO=$dir"; echo "XENOLITH_XL='$xl'"
      echo 'XENDOMAINS_CREATE_USLEEP=0'; for l in "$@"; do echo "$l"; done; } >"$file"
}

# --- systemd units -----------------------------------------------------------
# verify needs the binaries the units name: point them at this build.
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$work/units"
    sed "s#/usr/local/sbin/xenolithd#$build/src/daemon/xenolithd#" \
        "$top/dist/systemd/xenolithd.service" >"$work/units/xenolithd.service"
    sed "s#/usr/local/sbin/xenolith-domains#$xd#" \
        "$top/dist/systemd/xenolith-domains.service" >"$work/units/xenolith-domains.service"
    check "systemd-analyze verify: both units" expect_rc 0 \
        bash -c "cd '$work/units' && systemd-analyze verify --man=no ./xenolithd.service ./xenolith-domains.service"
    check "  without a warning" test ! -s "$work/err"
    check "  oneshot, RemainAfterExit, ExecStart start, ExecStop stop" bash -c "
        f='$top/dist/systemd/xenolith-domains.service'
        grep -qx 'Type=oneshot' \$f && grep -qx 'RemainAfterExit=yes' \$f &&
        grep -qx 'ExecStart=/usr/local/sbin/xenolith-domains start' \$f &&
        grep -qx 'ExecStop=/usr/local/sbin/xenolith-domains stop' \$f &&
        grep -qx 'Requires=xenolithd.service' \$f && grep -qx 'After=xenolithd.service' \$f"
    # TimeoutStopSec must exceed the default file's XENDOMAINS_STOP_MAXWAIT.
    stop_sec=$(sed -n 's/^TimeoutStopSec=//p' "$top/dist/systemd/xenolith-domains.service")
    max_wait=$(sed -n 's/^XENDOMAINS_STOP_MAXWAIT=//p' "$top/dist/default/xenolith-domains")
    check "  TimeoutStopSec ($stop_sec) > XENDOMAINS_STOP_MAXWAIT ($max_wait)" \
        test "${stop_sec:-0}" -gt "${max_wait:-0}"
else
    echo "SKIP: systemd-analyze verify (systemd-analyze not installed)"
    skipped=$((skipped + 1))
fi
check "the shipped settings file parses" expect_rc 0 \
    env XENOLITH_RUN_DIR="$work/nodaemon" "$xd" --config "$top/dist/default/xenolith-domains" \
    --auto-dir "$work/empty" start
check "  with nothing to start" out_is "Starting auto Xen domains: none ($work/empty does not exist)"

# Everything below starts service guests.
if ! needs_kvm "autostart: service guests started and stopped in order"; then
    echo "autostart: $passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
    exit
fi

# --- start in order ------------------------------------------------------------
# netdd <- firewall <- web; stubborn (ignores shutdown requests) after netdd.
auto="$work/auto"
auto_cfg "$auto" netdd
auto_cfg "$auto" firewall 'start_after = "netdd"'
auto_cfg "$auto" web 'start_after = ["firewall"]'
auto_cfg "$auto" stubborn 'start_after = ["netdd"]' 'extra = "ignore-shutdown"'
settings "$work/settings" "$auto" 'XENDOMAINS_CREATE_USLEEP=300000' 'XENDOMAINS_STOP_MAXWAIT=6' \
    'XENDOMAINS_AUTO_ONLY=true' 'XENDOMAINS_SHUTDOWN_ALL=""'
# A domain started by hand, not in the auto directory.
"$xl" create -q "$(guest_cfg manual service 16)"

t0=$(date +%s%N)
check "start: exit 0" expect_rc 0 "$xd" --config "$work/settings" start
t1=$(date +%s%N)
check "  one line per domain, dependencies first" out_is "Starting auto Xen domains:
 netdd: started (domid 2)
 firewall: started (domid 3)
 stubborn: started (domid 4)
 web: started (domid 5)
  [done]"
check "  domids increase in dependency order" \
    test "$(domid_of netdd)" -lt "$(domid_of firewall)" -a "$(domid_of firewall)" -lt "$(domid_of web)"
check "  XENDOMAINS_CREATE_USLEEP between creates (3 x 0.3 s, none after the last)" \
    test $(((t1 - t0) / 1000000)) -ge 900 -a $(((t1 - t0) / 1000000)) -lt 5000
for d in netdd firewall web stubborn; do
    check "  $d is up" wait_for 10 bash -c "'$xl' dmesg | grep -q 'service $d: up'"
done
check "status: exit 0" expect_rc 0 "$xd" --config "$work/settings" status
check "  every auto domain, in start order, with its start_after" out_is "Checking for xenolith-domains ($auto):
 netdd: running (domid 2)
 firewall: running (domid 3), after netdd
 stubborn: running (domid 4), after netdd
 web: running (domid 5), after firewall
  [running]"
check "start again: exit 0" expect_rc 0 "$xd" --config "$work/settings" start
check "  everything skipped" out_is "Starting auto Xen domains:
 netdd(skip): already running (domid 2)
 firewall(skip): already running (domid 3)
 stubborn(skip): already running (domid 4)
 web(skip): already running (domid 5)
  [done]"
check "  nothing created" test "$(guests)" = "Domain-0 firewall manual netdd stubborn web "

"$xl" destroy web
check "status with web destroyed: exit 3" expect_rc 3 "$xd" --config "$work/settings" status
check "  web not running" grep -qx ' web: not running, after firewall' "$work/out"
check "  [not running]" grep -qx '  \[not running\]' "$work/out"
check "start: only web is created" expect_rc 0 "$xd" --config "$work/settings" start
check "  the others skipped" out_is "Starting auto Xen domains:
 netdd(skip): already running (domid 2)
 firewall(skip): already running (domid 3)
 stubborn(skip): already running (domid 4)
 web: started (domid 6)
  [done]"
check "  web is up again" wait_for 10 bash -c "'$xl' dmesg | grep -q '(d6) service web: up'"

# --- stop in reverse order -------------------------------------------------------
"$xl" dmesg -c >/dev/null
t0=$(date +%s%N)
check "stop: exit 1 (a domain had to be destroyed)" expect_rc 1 "$xd" --config "$work/settings" stop
t1=$(date +%s%N)
sed -E 's/\(domid ([0-9]+), [0-9.]+ s\)/(domid \1, T)/' "$work/out" >"$work/out.t" && mv "$work/out.t" "$work/out"
check "  dependents first; stubborn destroyed after its share (6 s / 3 levels)" out_is "Shutting down Xen domains:
 manual(skip): not an auto domain (XENDOMAINS_AUTO_ONLY)
 stubborn: did not shut down within 2.0 s (the request was not acknowledged): destroyed (domid 4)
 web: shut down (domid 6, T)
 firewall: shut down (domid 3, T)
 netdd: shut down (domid 2, T)
  [failed]"
check "  web stopped before firewall (xl dmesg)" before web firewall 'shutting down'
check "  firewall stopped before netdd" before firewall netdd 'shutting down'
check "  stubborn saw the request and ignored it" bash -c "'$xl' dmesg | grep -q 'service stubborn: ignoring control/shutdown = poweroff'"
check "  took the 2 s share, not the whole 6 s" \
    test $(((t1 - t0) / 1000000)) -ge 1900 -a $(((t1 - t0) / 1000000)) -lt 5500
check "  only the hand-started domain is left (XENDOMAINS_AUTO_ONLY)" \
    wait_for 5 test "$(guests)" = "Domain-0 manual "
check "stop with nothing to stop: exit 0" expect_rc 0 "$xd" --config "$work/settings" stop
check "  says so" out_is "Shutting down Xen domains:
 manual(skip): not an auto domain (XENDOMAINS_AUTO_ONLY)
 none running
  [done]"

# --- SHUTDOWN_ALL: other domains go with the first level; restart ---------------------
settings "$work/settings-all" "$auto" 'XENDOMAINS_STOP_MAXWAIT=30' 'XENDOMAINS_AUTO_ONLY=true' \
    'XENDOMAINS_SHUTDOWN_ALL="--all --wait"'
rm "$auto/stubborn.cfg"
check "start (three domains)" expect_rc 0 "$xd" --config "$work/settings-all" start
for d in netdd firewall web; do
    check "  $d is up" wait_for 10 bash -c "'$xl' dmesg | grep -q '(d$(domid_of $d)) service $d: up'"
done
"$xl" dmesg -c >/dev/null
check "restart: exit 0" expect_rc 0 "$xd" --config "$work/settings-all" restart
check "  the hand-started domain stopped with the first level" \
    grep -qE '^ manual: shut down \(domid 1, [0-9.]+ s\)$' "$work/out"
check "  ... before firewall" before manual firewall 'shutting down'
check "  ... netdd, firewall, web" test "$(sed -n '/^Starting/,$p' "$work/out" | grep -o '^ [a-z]*: started' | tr -d '\n')" = " netdd: started firewall: started web: started"
check "  manual is not an auto domain: not restarted" test "$(guests)" = "Domain-0 firewall netdd web "
# Stopping never refuses: a config broken since start is a warning, and its
# domain stops like any other (with the first level).
cp "$auto/web.cfg" "$work/web.cfg.good"
echo 'memory = "lots"' >>"$auto/web.cfg"
echo 'XENDOMAINS_SAVE=/var/lib/xen/save' >>"$work/settings-all"
check "stop: exit 0 (all shut down in time)" expect_rc 0 "$xd" --config "$work/settings-all" stop
check "  [done]" grep -qx '  \[done\]' "$work/out"
check "  the broken config is a warning" grep -qx "xenolith-domains: $auto/web.cfg:6:10: memory: expected a number of MiB, got \"lots\" (its domain is stopped like any other)" "$work/err"
check "  XENDOMAINS_SAVE gets a note" grep -q "^xenolith-domains: $work/settings-all:[0-9]*: XENDOMAINS_SAVE is not supported" "$work/err"
check "  web (now unknown) with the first level, netdd last" test "$(grep -o '^ [a-z]*:' "$work/out" | tr -d '\n')" = " firewall: web: netdd:"
mv "$work/web.cfg.good" "$auto/web.cfg"
check "  nothing left" wait_for 5 test "$(guests)" = "Domain-0 "

# --- refusals: nothing started --------------------------------------------------------
refuse() {  # DESCRIPTION DIR EXPECTED-STDERR
    settings "$work/settings-r" "$2"
    check "$1: exit 6" expect_rc 6 "$xd" --config "$work/settings-r" start
    check "  message" err_is "$3"
    check "  nothing started" test "$(guests)" = "Domain-0 "
}
cyc="$work/cycle"
auto_cfg "$cyc" a 'start_after = ["b"]'
auto_cfg "$cyc" b 'start_after = ["c", "a"]'
auto_cfg "$cyc" c
auto_cfg "$cyc" d 'start_after = "a"'
auto_cfg "$cyc" e 'start_after = "e"'
refuse "a cycle" "$cyc" "xenolith-domains: start_after forms a cycle: a -> b -> a ($cyc/a.cfg, $cyc/b.cfg)
xenolith-domains: start_after forms a cycle: e -> e ($cyc/e.cfg)
xenolith-domains: waiting on a cycle, so they cannot start either: d
xenolith-domains: no domain started"
check "status shows the cycle too: exit 3" expect_rc 3 "$xd" --config "$work/settings-r" status
check "  in file order" out_is "Checking for xenolith-domains ($cyc):
 a: not running, after b
 b: not running, after c, a
 c: not running
 d: not running, after a
 e: not running, after e
  [not running]"

miss="$work/missing"
auto_cfg "$miss" x 'memory = 16' 'start_after = ["netdd", "nosuch"]'
auto_cfg "$miss" netdd
refuse "a missing dependency" "$miss" "xenolith-domains: $miss/x.cfg:6: start_after: 'nosuch' is neither a domain in $miss nor running
xenolith-domains: no domain started"

"$xl" create -q "$(guest_cfg nosuch service 16)"
settings "$work/settings-r" "$miss"
check "a dependency running outside the directory satisfies it" expect_rc 0 "$xd" --config "$work/settings-r" start
check "  netdd then x" out_is "Starting auto Xen domains:
 netdd: started (domid $(domid_of netdd))
 x: started (domid $(domid_of x))
  [done]"
check "stop takes nosuch along (no XENDOMAINS_AUTO_ONLY)" expect_rc 0 "$xd" --config "$work/settings-r" stop
check "  x and nosuch first, then netdd" test "$(grep -o '^ [a-z]*:' "$work/out" | tr -d '\n')" = " x: nosuch: netdd:"
wait_for 5 test "$(guests)" = "Domain-0 "

dup="$work/dup"
auto_cfg "$dup" one
auto_cfg "$dup" two
sed -i 's/name = "two"/name = "one"/' "$dup/two.cfg"
refuse "two files, one name" "$dup" "xenolith-domains: $dup/one.cfg and $dup/two.cfg both define domain 'one'
xenolith-domains: no domain started"

bad="$work/badkey"
auto_cfg "$bad" k 'start_after = [["a"]]'
refuse "start_after with a list in the list" "$bad" \
    "xenolith-domains: $bad/k.cfg:5:16: start_after: expected a domain name or a list of names, got a list in the list
xenolith-domains: no domain started"
auto_cfg "$bad" k 'start_after = [""]'
refuse "start_after with an empty name" "$bad" \
    "xenolith-domains: $bad/k.cfg:5:16: start_after: an empty domain name
xenolith-domains: no domain started"
auto_cfg "$bad" k 'start_after = 7'
refuse "start_after with a domid" "$bad" \
    "xenolith-domains: $bad/k.cfg:5:15: start_after: \"7\" is a domain id, not a name
xenolith-domains: no domain started"
auto_cfg "$bad" k 'memory = "lots"'
refuse "a config xl would refuse" "$bad" \
    "xenolith-domains: $bad/k.cfg:5:10: memory: expected a number of MiB, got \"lots\"
xenolith-domains: no domain started"
rm "$bad/k.cfg"; ln -s "$work/nowhere.cfg" "$bad/k.cfg"
refuse "a dangling symlink" "$bad" "xenolith-domains: $bad/k.cfg: a symlink to nothing
xenolith-domains: no domain started"

# A dependency that xl fails to create: its dependents are not started.
fail="$work/fail"
auto_cfg "$fail" base
sed -i "s#service.elf#no-such-kernel.elf#" "$fail/base.cfg"
auto_cfg "$fail" top 'start_after = "base"'
auto_cfg "$fail" alone
settings "$work/settings-f" "$fail"
check "a failed create: exit 1" expect_rc 1 "$xd" --config "$work/settings-f" start
check "  which xl create failed" grep -qx " base: failed: xl create $fail/base.cfg exited with 1:" "$work/out"
check "  xl's error, indented" grep -qE '^   libxl: error: .*no-such-kernel' "$work/out"
check "  its dependent not started" grep -qx ' top: not started: start_after base, which did not start' "$work/out"
check "  the independent one started" grep -qE '^ alone: started \(domid [0-9]+\)$' "$work/out"
check "  [failed]" grep -qx '  \[failed\]' "$work/out"
"$xl" destroy alone

# An HVM guest without PV drivers cannot be asked: destroyed at once.
"$xl" create -q "$(guest_cfg hvm-idle idle 16 'type = "hvm"' "firmware_override = \"$build/guests/idle.elf\"")"
check "stop with an HVM guest without PV drivers: exit 1" expect_rc 1 "$xd" --config "$work/settings-f" stop
check "  destroyed at once, and said why" \
    grep -qE '^ hvm-idle: cannot be asked to shut down \(no PV control interface\): destroyed \(domid [0-9]+\)$' "$work/out"
check "  gone" wait_for 5 test "$(guests)" = "Domain-0 "

# --- XENDOMAINS_SYSRQ: the keys reach each domain before its shutdown request ---------
sq="$work/sysrq"
mkdir -p "$sq"
{ echo 'name = "pvc"'; echo 'type = "pvh"'; echo "kernel = \"$build/guests/pvcontrol.elf\""
  echo 'memory = 16'; } >"$sq/pvc.cfg"
settings "$work/settings-sysrq" "$sq" 'XENDOMAINS_SYSRQ="s u"' 'XENDOMAINS_STOP_MAXWAIT=20'
check "sysrq: start" expect_rc 0 "$xd" --config "$work/settings-sysrq" start
wait_for 10 grep -q 'pvcontrol:' "$work/log/guest-pvc.log"
check "sysrq: stop exits 0" expect_rc 0 "$xd" --config "$work/settings-sysrq" stop
check "  reports each key sent" grep -qx ' pvc: sysrq s' "$work/out"
check "  ... in order" test "$(grep -o '^ pvc: sysrq .' "$work/out" | tr -d '\n')" = " pvc: sysrq s pvc: sysrq u"
check "  the guest saw both keys before it shut down" \
    test "$(grep -o 'pvcontrol: sysrq [su]\|pvcontrol: control/shutdown' "$work/log/guest-pvc.log" | tr '\n' ,)" = \
    "pvcontrol: sysrq s,pvcontrol: sysrq u,pvcontrol: control/shutdown,"
check "  then shut down as asked" grep -qE '^ pvc: shut down \(domid [0-9]+' "$work/out"

# --- settings, usage, no daemon ----------------------------------------------------------
printf 'XENDOMAINS_STOP_MAXWAIT=soon\n' >"$work/bad-settings"
check "a bad number in the settings: exit 6" expect_rc 6 "$xd" --config "$work/bad-settings" start
check "  file:line message" err_is "xenolith-domains: $work/bad-settings:1: XENDOMAINS_STOP_MAXWAIT: expected seconds, got \"soon\""
printf '# ok\nXENDOMAINS_AUTO=$HOME/auto\n' >"$work/bad-settings"
check "shell expansion in the settings: exit 6" expect_rc 6 "$xd" --config "$work/bad-settings" start
check "  message" err_is "xenolith-domains: $work/bad-settings:2: XENDOMAINS_AUTO: '\$' would need a shell to expand; write the value itself"
check "a missing --config file: exit 6" expect_rc 6 "$xd" --config "$work/nosuch" start
check "  message" err_is "xenolith-domains: $work/nosuch: No such file or directory"
check "no action: exit 3 with usage" expect_rc 3 "$xd"
check "  usage" grep -q '^Usage: xenolith-domains .*{start|stop|restart|reload|status}' "$work/err"
check "unknown action: exit 3" expect_rc 3 "$xd" frobnicate
check "unknown option: exit 2" expect_rc 2 "$xd" --frob start
check "--auto-dir overrides XENDOMAINS_AUTO" expect_rc 0 "$xd" --config "$work/settings" --auto-dir "$work/none" start
check "  (a missing directory: nothing to start)" out_is "Starting auto Xen domains: none ($work/none does not exist)"
mkdir "$work/none"
check "an empty directory: exit 0" expect_rc 0 "$xd" --config "$work/settings" --auto-dir "$work/none" start
check "  nothing to start" out_is "Starting auto Xen domains: none in $work/none"
nod=(env XENOLITH_RUN_DIR="$work/nodaemon")
check "start without xenolithd: exit 7" expect_rc 7 "${nod[@]}" "$xd" --config "$work/settings" start
check "  message" err_is "xenolith-domains: cannot connect to xenolithd at $work/nodaemon/xenolithd.sock: No such file or directory
xenolith-domains: no domain started"
check "stop without xenolithd: exit 0, nothing to stop" expect_rc 0 "${nod[@]}" "$xd" --config "$work/settings" stop
check "status without xenolithd: exit 3" expect_rc 3 "${nod[@]}" "$xd" --config "$work/settings" status

check "no sanitizer report from xenolith-domains or xl" bash -c "! ls '$work'/sanitizer.* >/dev/null 2>&1"
check "no sanitizer report in the daemon's log" \
    bash -c "! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' \"$work/xenolithd.log\""
echo "autostart: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
