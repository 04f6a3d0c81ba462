#!/usr/bin/env bash
# disk= and vif= through the real xl against a real xenolithd: `xl create -n`
# prints libxl-shaped "disks"/"nics", bad specs fail with file:line:column,
# a vif naming a bridge the host lacks is refused before anything is made,
# and a valid config with devices still creates the domain (vif= with a
# warning: no network back-end attaches it yet; disks: xl-disks.sh).
#   xl-devices.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: xl-devices.sh BUILD_DIR}" xl-devices

kernel="$build/guests/demo.elf"
cfg="$work/dev.cfg"
cat >"$cfg" <<CFG
name = "devices"
type = "pvh"
kernel = "$kernel"
memory = 32
disk = [ 'phy:/dev/vg0/devices-root,xvda,w',
         'format=qcow2, vdev=xvdb, access=ro, target=/srv/img/data,v2.qcow2',
         'vdev=xvdc, devtype=cdrom, target=' ]
vif = [ 'mac=00:16:3e:01:02:03, backend=Domain-1, bridge=br_lan, rate=10Mb/s@20ms',
        'type=vif, mtu=9000, ip=192.0.2.7' ]
CFG

# ---- xl create -n: the typed config as libxl's JSON --------------------------
check "create -n with devices" expect_rc 0 "$xl" create -n "$cfg"
json="$work/out"
jqcheck() { jq -e "$1" "${2:-$json}" >/dev/null; }
check "disk 0 pdev_path" jqcheck '.disks[0].pdev_path == "/dev/vg0/devices-root"'
check "disk 0 vdev/format/readwrite" jqcheck '.disks[0] | .vdev == "xvda" and .format == "raw" and .readwrite == 1'
check "disk 1 target keeps its comma" jqcheck '.disks[1].pdev_path == "/srv/img/data,v2.qcow2"'
check "disk 1 qcow2 read-only" jqcheck '.disks[1] | .format == "qcow2" and (has("readwrite") | not)'
check "disk 2 empty cdrom" jqcheck '.disks[2] | .pdev_path == "" and .format == "empty" and .is_cdrom == 1 and .removable == 1'
check "nic 0 mac/backend/bridge" jqcheck '.nics[0] | .mac == "00:16:3e:01:02:03" and .backend_domname == "Domain-1" and .bridge == "br_lan"'
check "nic 0 rate" jqcheck '.nics[0] | .rate_bytes_per_interval == 25000 and .rate_interval_usecs == 20000'
check "nic 1 devid/mtu/type/ip" jqcheck '.nics[1] | .devid == 1 and .mtu == 9000 and .nictype == "vif" and .ip == "192.0.2.7"'
check "nic 1 has no mac (made at attach)" jqcheck '.nics[1] | has("mac") | not'
check "devices come after b_info" jqcheck '[keys_unsorted[]] | index("disks") == (index("b_info") + 1)'
check "no warning for disk" bash -c "! grep -q \"'disk' is checked\" '$work/err'"
check "no warning for vif (vifs are attached)" bash -c "! grep -q warning '$work/err'"

# ---- bad values: exit 1, file:line:column, what was expected --------------------
bad() {  # description, config lines, expected message (grep -F)
    local what=$1 lines=$2 msg=$3
    printf 'name = "bad"\ntype = "pvh"\nkernel = "%s"\n%b\n' "$kernel" "$lines" >"$work/bad.cfg"
    check "$what: exit 1" expect_rc 1 "$xl" create -n "$work/bad.cfg"
    check "$what: message" grep -qF "$work/bad.cfg:$msg" "$work/err"
}
bad "bad vdev" "disk = [ 'phy:/dev/vg/a,xvd1,w' ]" \
    "4:25: disk: vdev: 'xvd1' is not a virtual disk name"
bad "duplicate vdev" "disk = [ '/a,,xvda', '/b,,d0p0' ]" \
    "4:23: disk: vdev 'd0p0' is the same device as 'xvda' (line 4)"
bad "unknown disk key" "disk = [ 'vdev=xvda, colour=red, target=/a' ]" \
    "4:22: disk: unknown disk parameter 'colour'"
bad "multicast mac" "vif = [ 'mac=01:16:3e:00:00:01' ]" \
    "4:14: vif: mac: 01:16:3e:00:00:01 is a multicast address"
bad "short mac" "vif = [ 'bridge=xenbr0, mac=00:16:3e:00:01' ]" \
    "4:29: vif: mac: '00:16:3e:00:01' is not a MAC address"
bad "unknown vif key" "vif = [ 'bridge=xenbr0, speed=fast' ]" \
    "4:25: vif: unknown vif setting 'speed'"
bad "bad rate" "vif = [ 'rate=10Mbit' ]" "4:15: vif: rate: '10Mbit' is not a rate"
bad "vcpus above maxvcpus" "vcpus = 4\nmaxvcpus = 2" "5:12: maxvcpus: 2 is less than vcpus (4, line 4)"
bad "memory above maxmem" "memory = 512\nmaxmem = 256" "5:10: maxmem: 256 MiB is less than memory (512 MiB, line 4)"

# ---- a bridge the host does not have ---------------------------------------------
nobr="xlnobr$$"
nobr=${nobr:0:15}
printf 'name = "nobridge"\ntype = "pvh"\nkernel = "%s"\nmemory = 32\nvif = [ %s ]\n' \
    "$kernel" "'bridge=$nobr'" >"$work/nobr.cfg"
check "unknown bridge refused" expect_rc 1 "$xl" create "$work/nobr.cfg"
check "unknown bridge message" grep -qF "$work/nobr.cfg:5:17: vif: bridge \"$nobr\" does not exist on this host (no /sys/class/net/$nobr/bridge)" "$work/err"
check "nothing was created" test "$("$xl" list | wc -l)" -eq 2
check "dry run only warns" expect_rc 0 "$xl" create -n "$work/nobr.cfg"
check "dry run warning" grep -qF "$work/nobr.cfg:5: warning: vif: bridge \"$nobr\" does not exist on this host" "$work/err"

# A bridge in a driver domain is not looked for on this host; the vif is then
# refused because only domain 0 serves vifs, and nothing is left behind.
printf 'name = "ddbridge"\ntype = "pvh"\nkernel = "%s"\nmemory = 32\nvif = [ %s ]\n' \
    "$kernel" "'backend=Domain-1, bridge=$nobr'" >"$work/dd.cfg"
check "driver-domain bridge: dry run has no bridge warning" expect_rc 0 "$xl" create -n "$work/dd.cfg"
check "  (no warning)" bash -c "! grep -q 'does not exist' '$work/err'"
if needs_kvm "driver-domain vif: the refusal"; then
    check "driver-domain vif refused" expect_rc 1 "$xl" create -p "$work/dd.cfg"
    check "  with the reason" grep -qF "$work/dd.cfg:5:10: vif 0: backend 'Domain-1': only domain 0 serves network devices" "$work/err"
    check "  nothing was created" test "$("$xl" list | wc -l)" -eq 2
fi

# A bridge that exists: in a private network namespace with its own /sys, so
# the host's network is untouched. Skipped where namespaces are not allowed.
# (Plugging vifs into real bridges is net-modes.sh's and xl-vifs.sh's.)
if ! unshare -n -m true 2>/dev/null; then
    skip "existing-bridge case (unshare -n -m not permitted here)"
else
    printf 'name = "withbridge"\ntype = "pvh"\nkernel = "%s"\nmemory = 32\nvif = [ %s ]\n' \
        "$kernel" "'bridge=xltestbr0'" >"$work/br.cfg"
    check "existing bridge accepted" unshare -n -m sh -c \
        'ip link add xltestbr0 type bridge && mount -t sysfs sysfs /sys &&
         "$1" create -n "$2" >"$3/out" 2>"$3/err"' sh "$xl" "$work/br.cfg" "$work"
    check "  without a bridge warning" bash -c "! grep -q 'does not exist' '$work/err'"
fi

# ---- a valid config with devices still runs the guest --------------------------
if needs_kvm "a valid config with devices runs the guest"; then
    truncate -s 1M "$work/runs.img"
    printf 'name = "runs"\ntype = "pvh"\nkernel = "%s"\nmemory = 32\ndisk = [ %s ]\n' \
        "$kernel" "'$work/runs.img,raw,xvda,rw'" >"$work/runs.cfg"
    check "create with a disk" expect_rc 0 "$xl" create -p "$work/runs.cfg"
    "$xl" list -l runs >"$work/listl" 2>&1
    check "xl list -l shows the disk" jqcheck ".[0].config.disks[0].pdev_path == \"$work/runs.img\"" "$work/listl"
    check "unpause" expect_rc 0 "$xl" unpause runs
    for _ in $(seq 100); do "$xl" domid runs >/dev/null 2>&1 || break; sleep 0.05; done
    check "it ran and powered off" expect_rc 1 "$xl" domid runs
    check "its console says so" grep -q 'Test result: SUCCESS' "$work/log/guest-runs.log"
fi

summary xl-devices
