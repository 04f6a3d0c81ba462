#!/usr/bin/env bash
# xentop / xl top, xl info, xl uptime and xl dmesg against a real xenolithd
# with real guests: an idle one (blocked in SCHEDOP_block) and a busy one
# (spinning in ring 3), checked against Xen 4.17's formats.
#   top.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: top.sh BUILD_DIR}" top
skip_suite_without_kvm top
xentop="$build/src/toolstack/xentop/xentop"

# Xen's column headers at their default widths (xentop.c's field table).
header='      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) NETRX(k) VBDS   VBD_OO   VBD_RD   VBD_WR  VBD_RSECT  VBD_WSECT SSID'
long_name=idle-with-a-long-name

"$xl" create -q "$(guest_cfg busy busy 8)"
"$xl" create -q "$(guest_cfg "$long_name" idle 8)"
check "the busy guest reached ring 3" wait_for 10 grep -q 'busy: up' "$work/log/guest-busy.log"
check "the idle guest is up" wait_for 10 grep -q 'idle: up' "$work/log/guest-$long_name.log"
check "the idle guest is blocked" wait_for 10 bash -c "'$xl' list '$long_name' | grep -q ' -b---- '"
sleep 1  # the busy vCPU has been spinning for a while

# ---- batch mode --------------------------------------------------------------
"$xentop" -b -i 2 -d 1 >"$work/top" 2>"$work/top.err"
check "xentop -b -i 2 -d 1 succeeds quietly" test $? -eq 0 -a ! -s "$work/top.err"
check "two samples of 1 header + 3 domains, nothing else (no summary in batch mode)" \
    test "$(wc -l <"$work/top")" -eq 8
check "the header is Xen's" test "$(grep -c -xF "$header" "$work/top")" -eq 2
# NAME (%10.10s) STATE CPU(sec) CPU(%) MEM(k) MEM(%) MAXMEM(k) MAXMEM(%) VCPUS
# NETS NETTX NETRX VBDS VBD_OO VBD_RD VBD_WR VBD_RSECT VBD_WSECT SSID
row() {  # NAME STATE MEMK MAXMEMK MAXPCT VCPUS
    printf '^%10.10s %s +[0-9]+ +[0-9]+\\.[0-9] +%s +[0-9]+\\.[0-9] +%s +%s +%s +0 +0 +0 +0 +0 +0 +0 +0 +0 +0$' \
        "$1" "$2" "$3" "$4" "$5" "$6"
}
check "busy row: running, 8 MiB, max 8 MiB + 1 MiB (libxl), 1 vCPU" test "$(grep -cE "$(row busy -----r 8192 9216 '[0-9.]+' 1)" "$work/top")" -eq 2
check "idle row: blocked, name cut to 10" \
    test "$(grep -cE "$(row "$long_name" --b--- 8192 9216 '[0-9.]+' 1)" "$work/top")" -eq 2
check "Domain-0 row: the host, no limit" \
    test "$(grep -cE "$(row Domain-0 -----r '[0-9]+' 'no limit' n/a "$(nproc)")" "$work/top")" -eq 2
check "rows sorted by name, case-insensitive (busy, Domain-0, idle-...)" \
    test "$(awk 'NR >= 2 && NR <= 4 {printf "%s ", $1}' "$work/top")" = "busy Domain-0 idle-with- "
cpu_pct() { awk -v s="$1" -v n="$2" '$1 == n {seen++; if (seen == s) print $4}' "$work/top"; }
check "first sample: CPU(%) 0.0 (no previous sample)" \
    test "$(cpu_pct 1 busy)/$(cpu_pct 1 idle-with-)" = "0.0/0.0"
busy_pct=$(cpu_pct 2 busy) idle_pct=$(cpu_pct 2 idle-with-)
check "second sample: busy CPU(%) well above idle ($busy_pct vs $idle_pct)" \
    awk -v b="$busy_pct" -v i="$idle_pct" 'BEGIN {exit !(b >= 5 && i < 1 && b <= 100.5)}'
mem_pct=$(awk '$1 == "busy" {print $6; exit}' "$work/top")
want_pct=$(awk '/^MemTotal/ {printf "%.1f", 8192 * 100 / $2}' /proc/meminfo)
check "MEM(%) is MEM(k) over the host's memory ($mem_pct, want $want_pct)" test "$mem_pct" = "$want_pct"
busy_sec=$(awk '$1 == "busy" {v = $3} END {print v}' "$work/top")
list_sec=$("$xl" list busy | awk 'NR == 2 {print int($6)}')
check "CPU(sec) agrees with xl list ($busy_sec vs $list_sec)" \
    awk -v a="$busy_sec" -v b="$list_sec" 'BEGIN {exit !(b - a >= 0 && b - a <= 2)}'

"$xl" top -b -i 2 -d 1 >"$work/xltop" 2>&1
check "xl top -b -i 2 -d 1 runs xentop" test $? -eq 0 -a "$(wc -l <"$work/xltop")" -eq 8 \
    -a "$(grep -c -xF "$header" "$work/xltop")" -eq 2

"$xentop" -b -i 1 -v >"$work/top" 2>&1
check "-v: a VCPUs(sec) line after each domain" test "$(grep -c '^VCPUs(sec): ' "$work/top")" -eq 3
check "-v: one vCPU for busy" grep -qE '^VCPUs\(sec\):   0: +[0-9]+s$' "$work/top"
"$xentop" -b -i 1 -r >"$work/top" 2>&1
check "-r: the header before every domain" test "$(grep -c -xF "$header" "$work/top")" -eq 3
"$xentop" -b -i 1 -z >"$work/top" 2>&1
check "-z: Domain-0 first" test "$(awk 'NR == 2 {print $1}' "$work/top")" = Domain-0
"$xentop" -b -i 1 -f >"$work/top" 2>&1
check "-f: full names, NAME column widened" \
    bash -c "grep -qE '^ {17}NAME  STATE ' '$work/top' && grep -qE '^$long_name --b--- ' '$work/top' && grep -qE '^ {17}busy -----r ' '$work/top'"
"$xentop" -b -i 2 -d 1 -p >"$work/top" 2>&1
check "-p: a physical CPU table with one row per host CPU" \
    test "$(grep -cE '^\| [0-9]+ +\| +[0-9]+\.[0-9]% \|$' "$work/top")" -eq $((2 * $(nproc)))
check "-p: its heading" test "$(grep -c '^Physical CPU Usage:$' "$work/top")" -eq 2
"$xentop" -b -i 1 -n -x >"$work/top" 2>&1
check "-n -x: no network or block devices to list" test "$(wc -l <"$work/top")" -eq 4

# ---- interactive mode (ncurses on a pty from script(1)) ---------------------------
on_tty() {  # INPUT COMMAND: runs COMMAND on a 200x30 pty fed INPUT; plain text out
    local input=$1; shift
    { sleep 2; printf '%s' "$input"; sleep 2; } |
        TERM=xterm timeout 30 script -qec "stty cols 200 rows 30; $*" /dev/null >"$work/tty.raw" 2>&1
    local rc=$?
    sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[()][0-9A-B]//g' "$work/tty.raw" | tr -d '\r' >"$work/tty"
    return $rc
}
on_tty '' "$xentop" -i 2 -d 1
check "interactive -i 2 -d 1 ends by itself" test $? -eq 0
check "interactive: the summary line with the Xen version" \
    grep -qaE 'xentop - [0-9]{2}:[0-9]{2}:[0-9]{2}   Xen 4\.17\.0-xenolith' "$work/tty"
check "interactive: domain states counted (Domain-0 and busy running, idle blocked)" \
    grep -qaF '3 domains: 2 running, 1 blocked, 0 paused, 0 crashed, 0 dying, 0 shutdown' "$work/tty"
check "interactive: host memory and CPUs" \
    grep -qaE "Mem: [0-9]+k total, [0-9]+k used, [0-9]+k free    CPUs: $(nproc) @ [0-9]+MHz" "$work/tty"
check "interactive: the header and the key line" \
    bash -c "grep -qa 'NAME  STATE   CPU(sec)' '$work/tty' && grep -qa 'ort order' '$work/tty' && grep -qa 'uit' '$work/tty'"
on_tty 'q' "$xentop" -d 1
check "interactive: q quits" test $? -eq 0
on_tty 'd' "$xentop" -i 3 -d 2
check "interactive: d prompts for the delay" grep -qa 'Delay(sec): ' "$work/tty"

# ---- options and errors --------------------------------------------------------
"$xentop" -h >"$work/out" 2>&1
check "-h prints the usage and exits 0" \
    bash -c "[ $? -eq 0 ] && head -n 1 '$work/out' | grep -qxF 'Usage: $xentop [OPTION]' && grep -q '^-b, --batch ' '$work/out'"
check "-V prints the version" bash -c "'$xentop' -V | head -n 1 | grep -q '^xentop 1.0'"
expect_rc 0 "$xentop" -q
check "a bad option: getopt's message, then the usage (status 0, as xentop)" \
    bash -c "grep -qxF \"$xentop: invalid option -- 'q'\" '$work/err' && grep -q '^Usage: ' '$work/out'"
expect_rc 0 "$xentop" -b -d
check "-d without a value: getopt's message" grep -qxF "$xentop: option requires an argument -- 'd'" "$work/err"
expect_rc 0 "$xentop" --bogus
check "an unknown long option: getopt's message" grep -qxF "$xentop: unrecognized option '--bogus'" "$work/err"
expect_rc 1 env XENOLITH_RUN_DIR="$work/nowhere" "$xentop" -b -i 1
check "no daemon: xentop's failure, status 1" grep -qxF 'Failed to initialize xenstat library' "$work/err"
"$xl" top -h >"$work/out" 2>&1
check "xl top -h is xl's usage" grep -q '^Usage: xl \[-vtT\] top' "$work/out"
expect_rc 0 "$xl" top -x -b -i 1
check "xl top passes its options to xentop" test "$(wc -l <"$work/out")" -eq 4

# ---- xl info ---------------------------------------------------------------------
"$xl" info >"$work/info" 2>&1
check "xl info succeeds" test $? -eq 0
check "xl info: Xen's fields in Xen's order" test "$(cut -c1-23 "$work/info" | tr -d ' ' | tr '\n' ' ')" = \
    "host release version machine nr_cpus max_cpu_id nr_nodes cores_per_socket threads_per_core cpu_mhz hw_caps virt_caps total_memory free_memory sharing_freed_memory sharing_used_memory outstanding_claims free_cpus xen_major xen_minor xen_extra xen_version xen_caps xen_scheduler xen_pagesize platform_params xen_changeset xen_commandline cc_compiler cc_compile_by cc_compile_domain cc_compile_date build_id xend_config_format "
check "xl info: every line is '<name padded to 23>: value'" \
    test "$(grep -cvE '^[a-z_]+ *: ?' "$work/info")" -eq 0 -a "$(grep -cvE '^.{23}:' "$work/info")" -eq 0
field() { sed -n "s/^$1 *: //p" "$work/info"; }
check "host is uname -n" test "$(field host)" = "$(uname -n)"
check "release is uname -r" test "$(field release)" = "$(uname -r)"
check "nr_cpus is the online CPUs" test "$(field nr_cpus)" = "$(nproc)"
check "max_cpu_id is the last possible CPU" \
    test "$(field max_cpu_id)" = "$(tr ',-' '\n\n' </sys/devices/system/cpu/possible | tail -n 1)"
sockets=$(cat /sys/devices/system/cpu/cpu*/topology/physical_package_id | sort -u | wc -l)
check "cores_per_socket x threads_per_core x sockets = nr_cpus" \
    test $(($(field cores_per_socket) * $(field threads_per_core) * sockets)) -eq "$(nproc)"
check "cpu_mhz is /proc/cpuinfo's, to the kHz" \
    test "$(field cpu_mhz)" = "$(awk -F': ' '/^cpu MHz/ {printf "%.3f", $2; exit}' /proc/cpuinfo)"
check "hw_caps: 8 words; word 0 is CPUID 1 EDX (has FPU and TSC)" \
    bash -c "field=\$(sed -n 's/^hw_caps *: //p' '$work/info'); [[ \$field =~ ^([0-9a-f]{8}:){7}[0-9a-f]{8}$ ]] && (( (0x\${field:0:8} & 0x11) == 0x11 ))"
check "virt_caps: hvm, a paging mode, both grant-table versions" \
    grep -qE '^virt_caps +: hvm (hap|shadow) gnttab-v1 gnttab-v2$' "$work/info"
mem_total=$(awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
check "total_memory is MemTotal in MiB" test "$(field total_memory)" -eq "$mem_total"
check "free_memory is at most total_memory" test "$(field free_memory)" -le "$mem_total"
check "xen_version is major.minor+extra" \
    test "$(field xen_version)" = "$(field xen_major).$(field xen_minor)$(field xen_extra)" -a "$(field xen_version)" = 4.17.0-xenolith
check "platform_params as a 64-bit domain sees it" test "$(field platform_params)" = virt_start=0xffff800000000000
check "xen_commandline is xenolithd's" grep -qE "^xen_commandline +: --run-dir $XENOLITH_RUN_DIR " "$work/info"
if command -v readelf >/dev/null; then
    check "build_id is xenolithd's GNU build id" test "$(field build_id)" = \
        "$(readelf -n "$build/src/daemon/xenolithd" | awk '/Build ID/ {print $3}')"
fi
check "xl info NAME prints that value alone" test "$("$xl" info nr_cpus)" = "$(nproc)"
check "xl info PREFIX prints every matching value" test "$("$xl" info xen_m | tr '\n' ' ')" = "4 17 "
"$xl" info -n >"$work/info" 2>&1
check "xl info -n: CPU topology after free_cpus, one row per CPU" \
    bash -c "grep -A2 '^free_cpus' '$work/info' | sed -n 2,3p | tr '\n' '|' | grep -qxF 'cpu_topology           :|cpu:    core    socket     node|' && test \$(sed -n '/^cpu:/,/^device topology/p' '$work/info' | grep -cE '^ +[0-9]+: +[0-9]+ +[0-9]+ +[0-9]+$') -eq $(nproc)"
check "xl info -n: NUMA nodes with distances, before xen_major" \
    bash -c "grep -B1 '^xen_major' '$work/info' | head -n 1 | grep -qE '^ +0: +[0-9]+ +[0-9]+ +10(,[0-9]+)*$'"
expect_rc 2 "$xl" info -q
check "xl info -q: xl's unsupported-option message" grep -qxF "option \`q' not supported." "$work/err"

# ---- xl uptime, xl dmesg -----------------------------------------------------------
"$xl" uptime >"$work/out" 2>&1
check "xl uptime: header, Domain-0 first, then the guests" \
    test "$(awk '{print $1}' "$work/out" | tr '\n' ' ')" = "Name Domain-0 busy $long_name "
check "xl uptime: Xen's columns (%-33s %4s %s)" bash -c "head -n 1 '$work/out' | grep -qxF '$(printf '%-33s %4s %s' Name ID Uptime)' && grep -qE '^busy {29} +[0-9]+  0:00:[0-9]{2}$' '$work/out'"
check "xl uptime -s: ' HH:MM:SS up H:MM, name (id)'" \
    bash -c "'$xl' uptime -s busy | grep -qE '^ [0-9]{2}:[0-9]{2}:[0-9]{2} up  0:00, busy \([0-9]+\)$'"
expect_rc 1 "$xl" uptime no-such-domain
check "xl uptime of an unknown name: xl's error" grep -qxF 'no-such-domain is an invalid domain identifier (rc=-6)' "$work/err"
expect_rc 0 "$xl" uptime 999
check "xl uptime of an unused domid prints only the header" test "$(wc -l <"$work/out")" -eq 1
check "xl dmesg shows the hypervisor log" grep -q '^(XEN) ' <("$xl" dmesg)
"$xl" dmesg --clear >/dev/null
check "xl dmesg --clear empties it" test -z "$("$xl" dmesg)"
expect_rc 2 "$xl" dmesg -z
check "xl dmesg -z: xl's unsupported-option message" grep -qxF "option \`z' not supported." "$work/err"

# ---- hostile control requests ----------------------------------------------------
ask() {  # raw JSON lines to the control socket, one connection each; prints replies
    python3 - "$@" <<'PY'
import os, socket, sys
for line in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["XENOLITH_RUN_DIR"] + "/xenolithd.sock")
    s.sendall(line.encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    print(reply.decode().strip())
PY
}
ask '{"cmd":"info","topology":"yes"}' '{"cmd":"dmesg","clear":"x"}' '{"cmd":5}' '{"cmd":"list","config":[1]}' >"$work/out" 2>&1
check "wrongly typed request fields get an error reply, not a crash" \
    bash -c "sed -n 2p '$work/out' | grep -q '\"ok\":false' && sed -n 3p '$work/out' | grep -q 'unknown request' && kill -0 $daemon"
check "info without a boolean topology leaves the topology out" bash -c "sed -n 1p '$work/out' | grep -q '\"ok\":true' && ! grep -q cpu_topology '$work/out'"

ask '{"cmd":"wait","domid":"1"}' '{"cmd":"console","domain":5}' >"$work/out" 2>&1
check "wait and console with wrongly typed fields get an error reply, not a crash" \
    bash -c "test \"\$(grep -c '\"ok\":false' '$work/out')\" = 2 && kill -0 $daemon"

"$xl" destroy busy
"$xl" destroy "$long_name"
summary top
