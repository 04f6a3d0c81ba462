#!/usr/bin/env bash
# xl rename, sysrq, trigger, dump-core and config-update, and the
# coredump-destroy / coredump-restart actions: real xl against a real
# xenolithd, with the pvcontrol guest reporting on its console what it got
# (sysrq keys, NMIs) and gdb reading the cores.
#   manage.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: manage.sh BUILD_DIR}" manage
skip_suite_without_kvm manage

elf="$build/guests/pvcontrol.elf"
console() { cat "$work/log/guest-$1.log" 2>/dev/null; }
console_has() { console "$1" | grep -qF -- "$2"; }
wait_console() { wait_for 20 console_has "$1" "$2"; }
err_is() { [ "$(cat "$work/err")" = "$1" ] || { echo "  stderr: $(cat "$work/err")"; return 1; }; }
err_has() { grep -qF -- "$1" "$work/err" || { echo "  stderr: $(cat "$work/err")"; return 1; }; }
out_has() { grep -qF -- "$1" "$work/out" || { echo "  stdout: $(cat "$work/out")"; return 1; }; }
no_output() { [ ! -s "$work/out" ] && [ ! -s "$work/err" ] || { echo "  out/err: $(cat "$work/out" "$work/err")"; return 1; }; }
domid_of() { "$xl" domid "$1" 2>/dev/null; }
state_of() { "$xl" list "$1" 2>/dev/null | awk 'NR == 2 {print $5}'; }
gone() { for _ in $(seq 100); do "$xl" domid "$1" >/dev/null 2>&1 || return 0; sleep 0.05; done; return 1; }
gdb_core() {  # CORE gdb-commands...: gdb's output on the guest image and the core
    local core=$1; shift
    local args=()
    for c in "$@"; do args+=(-ex "$c"); done
    gdb -nx -batch "${args[@]}" "$elf" "$core" 2>&1
}
start() {  # NAME EXTRA [cfg lines...]
    local name=$1 extra=$2; shift 2
    "$xl" create -q "$(guest_cfg "$name" pvcontrol 32 "extra = \"$extra\"" "$@")" &&
        wait_console "$name" "pvcontrol: ready"
}

check "pvcontrol guest starts" start pc "first"
pc=$(domid_of pc)

# --- rename --------------------------------------------------------------
check "rename: exit 0, silent" expect_rc 0 "$xl" rename pc pc2
check "... nothing printed" no_output
check "... xl list shows the new name" bash -c "'$xl' list pc2 | grep -q '^pc2 '"
check "... the old name is gone" expect_rc 1 "$xl" domid pc
check "... the domid is unchanged" test "$(domid_of pc2)" = "$pc"
check "... /local/domain/N/name" test "$(xenstore-read "/local/domain/$pc/name")" = pc2
vm=$(xenstore-read "/local/domain/$pc/vm")
check "... /vm/<uuid>/name" test "$(xenstore-read "$vm/name")" = pc2
check "... xl list -l reports the new c_info.name" bash -c "'$xl' list -l pc2 | grep -q '\"name\": \"pc2\"'"
check "... logged in xl dmesg" bash -c "'$xl' dmesg | grep -qF 'Domain $pc renamed from pc to pc2'"
check "rename by domid" expect_rc 0 "$xl" rename "$pc" pc3
check "... took effect" test "$(domid_of pc3)" = "$pc"
check "rename to its own name is fine" expect_rc 0 "$xl" rename pc3 pc3
check "second guest (2 vCPUs, vCPU 1 never brought up) starts" start other "second" 'vcpus = 2'
other=$(domid_of other)
check "rename onto another domain's name fails" expect_rc 1 "$xl" rename pc3 other
check "... with libxl's message and xl's" err_is "libxl: error: libxl_domain.c:81:libxl__domain_rename: Domain $pc:Domain with name \"other\" already exists.
Can't rename domain 'pc3'."
check "... and changes nothing" test "$(xenstore-read "/local/domain/$pc/name")" = pc3
check "rename of an unknown name" expect_rc 1 "$xl" rename nosuch x
check "... is an invalid domain identifier" err_is "nosuch is an invalid domain identifier (rc=-6)"
check "rename of an unused domid" expect_rc 1 "$xl" rename 999 x
check "... cannot rename" err_is "Can't rename domain '999'."
check "rename of domain 0 fails" expect_rc 1 "$xl" rename 0 host
check "... says why" err_has "Can't rename domain '0'."
check "rename of Domain-0 by name fails" expect_rc 1 "$xl" rename Domain-0 host
check "... Domain-0 keeps its name" bash -c "'$xl' list 0 | grep -q '^Domain-0 '"
check "rename to an empty name fails" expect_rc 1 "$xl" rename pc3 ""
check "rename to a 65-character name fails" expect_rc 1 "$xl" rename pc3 "$(printf 'n%.0s' $(seq 65))"
check "... the name is unchanged" test "$(domid_of pc3)" = "$pc"
check "rename with one argument: exit 2" expect_rc 2 "$xl" rename pc3
check "... xl's message" err_is "'xl rename' requires at least 2 arguments."
check "... and the usage on stdout" out_has "Usage: xl [-vtTf] rename <Domain> <NewDomainName>"
check "rename with an unknown option: exit 2" expect_rc 2 "$xl" rename -x pc3 y
check "... option not supported" err_is "option \`x' not supported."

# The console log keeps the name the domain was created with (guest-pc.log).

# --- sysrq ---------------------------------------------------------------
check "sysrq: exit 0, silent" expect_rc 0 "$xl" sysrq pc3 s
check "... nothing printed" no_output
check "... the guest got the key from control/sysrq" wait_console pc "pvcontrol: sysrq s"
check "... and cleared the node" wait_for 10 test -z "$(xenstore-read "/local/domain/$pc/control/sysrq")"
check "sysrq by domid" expect_rc 0 "$xl" sysrq "$pc" b
check "... arrives" wait_console pc "pvcontrol: sysrq b"
check "sysrq with two letters fails" expect_rc 1 "$xl" sysrq pc3 ab
check "... Invalid sysrq" err_is "Invalid sysrq."
check "... with the usage" out_has "Usage: xl [-vtTf] sysrq <Domain> <letter>"
check "sysrq with an empty letter fails" expect_rc 1 "$xl" sysrq pc3 ""
check "sysrq to an unknown name fails" expect_rc 1 "$xl" sysrq nosuch s
check "... invalid identifier" err_is "nosuch is an invalid domain identifier (rc=-6)"
check "sysrq to an unused domid: exit 0 as xl" expect_rc 0 "$xl" sysrq 999 s
check "... and writes no node for it" expect_rc 1 xenstore-read /local/domain/999/control/sysrq
check "sysrq with one argument: exit 2" expect_rc 2 "$xl" sysrq pc3
check "sysrq to domain 0 writes its node, as libxl does" expect_rc 0 "$xl" sysrq 0 h
check "... /local/domain/0/control/sysrq" test "$(xenstore-read /local/domain/0/control/sysrq)" = h

# --- trigger -------------------------------------------------------------
check "trigger nmi: exit 0, silent" expect_rc 0 "$xl" trigger pc3 nmi
check "... nothing printed" no_output
check "... the guest took an NMI" wait_console pc "pvcontrol: NMI 1"
check "trigger NMI (any case) on vCPU 0" expect_rc 0 "$xl" trigger pc3 NMI 0
check "... a second NMI" wait_console pc "pvcontrol: NMI 2"
check "trigger nmi with a bad vCPU number" expect_rc 0 "$xl" trigger pc3 nmi abc
check "... falls back to vCPU 0" err_is "Invalid vcpuid, using default vcpuid=0."
check "... and sends it" wait_console pc "pvcontrol: NMI 3"
check "trigger nmi on a vCPU the domain lacks" expect_rc 0 "$xl" trigger pc3 nmi 1
check "... ESRCH from the domctl" err_is "libxl: error: libxl_domain.c:2207:libxl_send_trigger: Domain $pc:Send trigger 'nmi' failed: No such process"
check "trigger power: no ACPI PM block, nothing happens" expect_rc 0 "$xl" trigger pc3 power
check "... silently" no_output
check "trigger sleep: the same" expect_rc 0 "$xl" trigger pc3 sleep
for t in reset init; do
    check "trigger $t: exit 0 as xl" expect_rc 0 "$xl" trigger pc3 $t
    check "... ENOSYS from the domctl" err_is "libxl: error: libxl_domain.c:2207:libxl_send_trigger: Domain $pc:Send trigger '$t' failed: Function not implemented"
done
check "trigger s3resume: exit 0 as xl" expect_rc 0 "$xl" trigger pc3 s3resume
check "... no device model: ERROR_INVAL" err_is "libxl: error: libxl_domain.c:2162:domain_s3_resume_done: Domain $pc:Send trigger 's3resume' failed, rc=-6"
check "trigger unknown (libxl's own enum value)" expect_rc 0 "$xl" trigger pc3 unknown
check "... EINVAL" err_is "libxl: error: libxl_domain.c:2207:libxl_send_trigger: Domain $pc:Send trigger 'unknown' failed: Invalid argument"
check "trigger bogus fails" expect_rc 1 "$xl" trigger pc3 bogus
check "... Invalid trigger" err_is 'Invalid trigger "bogus"'
check "trigger to an unused domid" expect_rc 0 "$xl" trigger 999 nmi
check "... ESRCH" err_is "libxl: error: libxl_domain.c:2207:libxl_send_trigger: Domain 999:Send trigger 'nmi' failed: No such process"
check "trigger to domain 0 (the host) is refused" expect_rc 0 "$xl" trigger 0 nmi
check "... EPERM, no Domain prefix for dom0" err_is "libxl: error: libxl_domain.c:2207:libxl_send_trigger: Send trigger 'nmi' failed: Operation not permitted"
check "trigger to an unknown name fails" expect_rc 1 "$xl" trigger nosuch nmi
check "trigger with one argument: exit 2" expect_rc 2 "$xl" trigger pc3
check "... xl's message" err_is "'xl trigger' requires at least 2 arguments."
check "the guest survived it all" test "$(state_of pc3)" = "-b----" -o "$(state_of pc3)" = "r-----"

# --- dump-core -----------------------------------------------------------
check "dump-core: exit 0, silent" expect_rc 0 "$xl" dump-core pc3 "$work/pc.core"
check "... nothing printed" no_output
check "... an ELF core" bash -c "readelf -h '$work/pc.core' | grep -q 'CORE (Core file)'"
check "... mode 0600 as Xen's" test "$(stat -c %a "$work/pc.core")" = 600
check "... a note naming xenolith" bash -c "readelf -n '$work/pc.core' | grep -q XENOLITH"
check "... NT_PRSTATUS for the vCPU" bash -c "readelf -n '$work/pc.core' | grep -q NT_PRSTATUS"
gdb_core "$work/pc.core" 'x/s 0x800000' 'x/s &core_marker' 'info symbol $rip' \
    'printf "rip-offset %d rax %d\n", $rip - (long)&hypercall_page, $rax' >"$work/gdb"
check "gdb reads the string at physical 0x800000" grep -qF '0x800000:	"xenolith-core-marker: dump me"' "$work/gdb"
check "gdb reads core_marker (written at run time, zero in the image)" \
    grep -qE '<core_marker>:	"xenolith-core-marker: dump me"' "$work/gdb"
check "... and RIP is inside the guest image" grep -qE ' in section \.(text|data|bss)' "$work/gdb"
# Mostly the guest sleeps in SCHEDOP_poll: RIP right after the `out` of
# hypercall page slot 29 (32 * 29 + 7). Its result (0) must be in RAX
# already, though the vCPU thread only hands it to KVM at the next entry:
# without run_parked's flush RAX would still hold the hypercall number, 29.
rax_ok() {
    local line; line=$(grep '^rip-offset ' "$work/gdb") || return 1
    set -- $line
    [ "$2" != $((32 * 29 + 7)) ] && { echo "  (RIP not after the poll: $line; not checked)"; return 0; }
    [ "$4" = 0 ] || { echo "  $line"; return 1; }
}
check "... and RAX holds the hypercall's result, not its number" rax_ok
check "... gdb knows whose core it is" grep -qF "Core was generated by \`xenolith domain $pc (pc3)'" "$work/gdb"
check "the domain runs on after the dump" bash -c "s=\$('$xl' list pc3 | awk 'NR==2{print \$5}'); [ \"\$s\" = -b---- ] || [ \"\$s\" = r----- ]"
check "... and still takes NMIs" expect_rc 0 "$xl" trigger pc3 nmi
check "... (the guest says so)" wait_console pc "pvcontrol: NMI 4"
"$xl" pause pc3
check "dump-core of a paused domain" expect_rc 0 "$xl" dump-core pc3 "$work/paused.core"
check "... leaves it paused" test "$(state_of pc3)" = "--p---"
"$xl" unpause pc3
check "dump-core to a relative path" bash -c "cd '$work' && '$xl' dump-core $pc rel.core && test -s rel.core"
check "dump-core into a missing directory fails" expect_rc 1 "$xl" dump-core pc3 "$work/no/such/core"
check "... xc's, libxl's and xl's messages" err_is "xc: error: Could not open corefile $work/no/such/core (2 = No such file or directory): Internal error
libxl: error: libxl_domain.c:603:libxl_domain_core_dump: Domain $pc:Core dumping domain to $work/no/such/core: No such file or directory
core dump failed (rc=-3)"
check "dump-core of an unused domid fails" expect_rc 1 "$xl" dump-core 999 "$work/999.core"
check "... ESRCH" err_has "Domain 999:Core dumping domain to $work/999.core: No such process"
check "... leaves no file" test ! -e "$work/999.core"
check "dump-core of domain 0 (the host) is refused" expect_rc 1 "$xl" dump-core 0 "$work/0.core"
check "... with xl's last line" err_has "core dump failed (rc=-3)"
check "dump-core with one argument: exit 2" expect_rc 2 "$xl" dump-core pc3
check "trigger nmi to an offline vCPU is accepted (pending, as Xen)" expect_rc 0 "$xl" trigger other nmi 1
check "... silently" no_output
check "dump-core of a 2-vCPU guest" expect_rc 0 "$xl" dump-core other "$work/other.core"
check "... has registers only for the vCPU that has a context" \
    test "$(readelf -n "$work/other.core" | grep -c NT_PRSTATUS)" = 1
check "the dump is logged in xl dmesg" bash -c "'$xl' dmesg | grep -qF 'core dumped to $work/pc.core'"

# --- config-update -------------------------------------------------------
check "config-update guest starts" start cu "first-config"
new_cfg=$(guest_cfg cu-new pvcontrol 32 'extra = "second-config"')
sed -i 's/^name = "cu-new"/name = "cu"/' "$new_cfg"
cu=$(domid_of cu)
check "config-update: exit 0" expect_rc 0 "$xl" config-update cu "$new_cfg" memory=48
check "... xl's warning and message" err_is "WARNING: xl now has better capability to manage domain configuration, avoid using this command when possible
setting dom$cu configuration"
check "... the running configuration is unchanged in xl list -l" \
    bash -c "'$xl' list -l cu | grep -q 'first-config' && ! '$xl' list -l cu | grep -q 'second-config'"
check "config-update -d prints the new configuration" expect_rc 0 "$xl" config-update cu "$new_cfg" -d memory=48
check "... as JSON on stdout" out_has '"second-config"'
check "xl reboot of the guest" expect_rc 0 "$xl" reboot cu
check "... restarts it under a new domid" wait_for 20 bash -c "d=\$('$xl' domid cu 2>/dev/null) && [ \"\$d\" != $cu ]"
check "... built from the new configuration" wait_console cu 'pvcontrol: cmdline "second-config"'
check "... with its key=value override (48 MiB)" bash -c "'$xl' list cu | awk 'NR==2{exit \$3 != 48}'"
check "... and xl list -l shows it" bash -c "'$xl' list -l cu | grep -q 'second-config'"
check "config-update with no domain" expect_rc 1 "$xl" config-update
check "... xl's message" err_is "xl config-update requires a domain argument"
check "config-update with no file" expect_rc 1 "$xl" config-update cu
check "... Config file not specified" err_has "Config file not specified"
check "config-update with a missing file: ERROR_FAIL as the status" expect_rc 253 "$xl" config-update cu "$work/nosuch.cfg"
check "... the read error" err_has "Failed to read config file: $work/nosuch.cfg: No such file or directory"
printf 'name = "cu"\nmemory = = 3\n' >"$work/bad.cfg"
check "config-update with a syntax error fails" expect_rc 1 "$xl" config-update cu "$work/bad.cfg"
check "config-update with two files: create's usage, exit 2" expect_rc 2 "$xl" config-update cu "$new_cfg" "$new_cfg"
check "... on stdout" out_has "Usage: xl [-vtTfN] create <ConfigFile> [options] [vars]"
check "config-update of an unused domid fails" expect_rc 1 "$xl" config-update 999 "$new_cfg"
check "... failed to update configuration" err_has "failed to update configuration"
check "config-update of an unknown name fails" expect_rc 1 "$xl" config-update nosuch "$new_cfg"
check "... invalid identifier" err_has "nosuch is an invalid domain identifier (rc=-6)"

# --- on_crash = coredump-destroy, on_reboot = coredump-restart ------------
dump_dir="$XENOLITH_RUN_DIR/dump"
check "xenolithd documents --dump-dir" bash -c "'$build/src/daemon/xenolithd' --help 2>&1 | grep -q -- --dump-dir"
# The guest crashes at once: it may be gone before `xl domid` could ask.
"$xl" create -q "$(guest_cfg cd pvcontrol 32 'extra = "crash"' 'on_crash = "coredump-destroy"')"
check "coredump-destroy: the crashed domain goes away" gone cd
check "... after writing <dump dir>/<name>" test -s "$dump_dir/cd"
check "... where xl dmesg says" bash -c "'$xl' dmesg | grep -qE 'Domain [0-9]+ \\(cd\\): dumping core to $dump_dir/cd\$'"
gdb_core "$dump_dir/cd" 'x/s 0x800000' >"$work/gdb"
check "... a core gdb reads" grep -qF 'xenolith-core-marker: dump me' "$work/gdb"
# A dump that cannot be written is logged and the domain still goes.
mv "$dump_dir" "$dump_dir.ok" && touch "$dump_dir"
"$xl" create -q "$(guest_cfg cf pvcontrol 32 'extra = "crash"' 'on_crash = "coredump-destroy"')"
check "coredump-destroy with an unwritable dump dir still destroys" gone cf
check "... and xl dmesg says why" bash -c "'$xl' dmesg | grep -qF '(cf): core dump failed: Could not open corefile $dump_dir/cf (20 = Not a directory)'"
rm -f "$dump_dir" && mv "$dump_dir.ok" "$dump_dir"
check "coredump-restart guest starts" start cr "restartable" 'on_reboot = "coredump-restart"'
cr=$(domid_of cr)
check "... reboot it" expect_rc 0 "$xl" reboot cr
check "... a core is written" wait_for 20 test -s "$dump_dir/cr"
check "... and it restarts under a new domid" wait_for 20 bash -c "d=\$('$xl' domid cr 2>/dev/null) && [ \"\$d\" != $cr ]"
check "... logged" bash -c "'$xl' dmesg | grep -qF 'Domain $cr (cr): dumping core to $dump_dir/cr'"

# An `xl destroy` while coredump-restart writes its core wins: the action
# restarts only a domain it destroyed itself. The dump directory is a small
# ext4 image that the test freezes (fsfreeze), so the dump blocks
# (deterministically) on opening the core until the test thaws it. (A FIFO
# would not do: cores are written to regular files only, see hostile.sh.)
race_mnt=$work/racefs
race_ready=no
if truncate -s 64M "$work/racefs.img" && mkfs.ext4 -q -F "$work/racefs.img" >/dev/null 2>&1 &&
    mkdir -p "$race_mnt" && mount -o loop "$work/racefs.img" "$race_mnt" 2>/dev/null; then
    race_ready=yes
    cleanup_extra() { fsfreeze -u "$race_mnt" 2>/dev/null; umount "$race_mnt" 2>/dev/null; }
fi
if [ "$race_ready" = yes ]; then
    mv "$dump_dir" "$dump_dir.fs" && ln -s "$race_mnt" "$dump_dir"
    check "coredump-restart racing destroy: guest starts" start race "restartable" 'on_reboot = "coredump-restart"'
    race=$(domid_of race)
    check "... freeze the dump directory" fsfreeze -f "$race_mnt"
    check "... reboot it" expect_rc 0 "$xl" reboot race
    check "... its dump has begun" wait_for 20 bash -c \
        "'$xl' dmesg | grep -qF 'Domain $race (race): dumping core to $dump_dir/race'"
    check "... xl destroy during the dump succeeds" expect_rc 0 timeout 20 "$xl" destroy race
    check "... and the domain is gone" gone race
    fsfreeze -u "$race_mnt"
    check "... the dump goes on to its end" wait_for 30 bash -c \
        "'$xl' dmesg | grep -qF 'Domain $race (race): dumping core' && test -s '$race_mnt/race'"
    sleep 1
    gdb_core "$race_mnt/race" 'x/s 0x800000' >"$work/gdb"
    check "... the core was written to its end" grep -qF 'xenolith-core-marker: dump me' "$work/gdb"
    check "... and the destroyed domain is not restarted" bash -c \
        "for i in \$(seq 40); do '$xl' domid race >/dev/null 2>&1 && exit 1; sleep 0.05; done; exit 0"
    rm -f "$dump_dir" && mv "$dump_dir.fs" "$dump_dir"
else
    skip "coredump-restart racing destroy: no loop-mounted ext4 to freeze here"
fi

for d in pc3 other cu cr; do "$xl" destroy "$d" 2>/dev/null; done
summary manage
