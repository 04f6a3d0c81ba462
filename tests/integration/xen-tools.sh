#!/usr/bin/env bash
# Configs as Debian's xen-tools writes them: the current xen-tools package
# (apt-get download), its /etc/xen-tools/xm.tmpl rendered with Text::Template
# the way xen-create-image does, for a few realistic variable sets. Each must
# pass `xl create -n` with the expected typed JSON, warnings only.
#   xen-tools.sh BUILD_DIR
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: xen-tools.sh BUILD_DIR}

cache=${XENOLITH_CACHE:-/var/cache/xenolith}/xen-tools
mkdir -p "$cache"
# The candidate version apt would install; reuse the cached package if it is
# that one, else fetch it. A stale package list makes the download fail:
# refresh it once and retry.
version=$(apt-cache show --no-all-versions xen-tools 2>/dev/null | sed -n 's/^Version: //p')
deb="$cache/xen-tools_${version}_all.deb"
if [ -z "$version" ] || [ ! -s "$deb" ]; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && { apt-get download -qq xen-tools 2>/dev/null ||
                       { apt-get update -qq && apt-get download -qq xen-tools; }; }); then
        deb="$cache/$(basename "$tmp"/xen-tools_*.deb)"
        mv "$tmp"/xen-tools_*.deb "$deb"
    fi
    rm -rf "$tmp"
fi
if [ ! -s "$deb" ]; then
    echo "xen-tools: cannot fetch the xen-tools package"
    exit 1
fi
if ! perl -MText::Template -e 1 2>/dev/null; then
    echo "xen-tools: Perl's Text::Template is missing (scripts/install-deps.sh installs it)"
    exit 1
fi

source "$top/tests/integration/lib.sh" "$build" xen-tools
dpkg-deb -x "$deb" "$work/pkg"
template="$work/pkg/etc/xen-tools/xm.tmpl"
check "the package has xm.tmpl" test -s "$template"
echo "xen-tools: $(basename "$deb")"

# render NAME JSON: the template filled in with JSON's variables -> $work/NAME.cfg
render() {
    "$top/tests/integration/render-xen-tools-template.pl" "$template" "$2" >"$work/$1.cfg"
}
# dry NAME: xl create -n on it; JSON in $work/NAME.json, stderr in $work/NAME.err
dry() {
    "$xl" create -n "$work/$1.cfg" >"$work/$1.json" 2>"$work/$1.err"
}
jqcheck() { jq -e "$2" "$work/$1.json" >/dev/null; }
# Every stderr line is the "Parsing config" banner or a warning.
only_warnings() { ! grep -v -e '^Parsing config from ' -e ': warning: ' "$work/$1.err"; }
warned() { grep -qF -- "$2" "$work/$1.err"; }

# 1. pygrub from LVM volumes, DHCP with a fixed MAC on a bridge.
render pygrub-lvm '{
  "hostname": "web1", "xen_tools_version": "test", "pygrub": 1,
  "vcpus": 2, "memory": 512, "device": "xvda",
  "PARTITIONS": [
    {"mountpoint": "swap", "imagetype": "phy:", "image": "/dev/vg0/web1-swap"},
    {"mountpoint": "/",    "imagetype": "phy:", "image": "/dev/vg0/web1-disk"}],
  "dhcp": 1, "mac": "00:16:3E:2A:00:01", "bridge": "xenbr0"}'
check "pygrub/LVM/dhcp: renders a disk and a vif" grep -q "^vif *= \[ 'mac=00:16:3E:2A:00:01,bridge=xenbr0' \]" "$work/pygrub-lvm.cfg"
check "pygrub/LVM/dhcp: xl create -n succeeds" dry pygrub-lvm
check "pygrub/LVM/dhcp: warnings only" only_warnings pygrub-lvm
check "pygrub/LVM/dhcp: guest" jqcheck pygrub-lvm ' (.c_info | del(.uuid)) == {"type": "pv", "name": "web1", "run_hotplug_scripts": "True"} and (.c_info.uuid | test("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")) and .b_info.max_vcpus == 2 and .b_info.target_memkb == 524288 and (.b_info | has("kernel") | not) and .b_info.cmdline == "root=/dev/xvda2 ro"'
check "pygrub/LVM/dhcp: disks" jqcheck pygrub-lvm '.disks == [
  {"pdev_path": "/dev/vg0/web1-disk", "vdev": "xvda2", "format": "raw", "readwrite": 1},
  {"pdev_path": "/dev/vg0/web1-swap", "vdev": "xvda1", "format": "raw", "readwrite": 1}]'
check "pygrub/LVM/dhcp: nics" jqcheck pygrub-lvm '.nics == [{"devid": 0, "mac": "00:16:3e:2a:00:01", "bridge": "xenbr0"}]'
check "pygrub/LVM/dhcp: bootloader warned about" warned pygrub-lvm "warning: 'bootloader' is not supported by xenolith yet"
check "pygrub/LVM/dhcp: xm dhcp= warned about" warned pygrub-lvm "warning: 'dhcp' is not an xl.cfg key"

# 2. Direct kernel and initrd, file-backed images, static IP with MAC,
#    vifname and bridge, maxmem above memory.
render kernel-file '{
  "hostname": "mail", "xen_tools_version": "test",
  "kernel": "/boot/vmlinuz-6.1.0-18-amd64", "initrd": "/boot/initrd.img-6.1.0-18-amd64",
  "vcpus": 1, "memory": 1024, "maxmem": 2048, "device": "xvda",
  "PARTITIONS": [
    {"mountpoint": "swap", "imagetype": "file:", "image": "/srv/xen/domains/mail/swap.img"},
    {"mountpoint": "/",    "imagetype": "file:", "image": "/srv/xen/domains/mail/disk.img"}],
  "ips": "192.0.2.20", "mac": "00:16:3e:2a:00:02", "vifname": "vif-mail", "bridge": "br_lan"}'
check "kernel/file/static: xl create -n succeeds" dry kernel-file
check "kernel/file/static: warnings only" only_warnings kernel-file
check "kernel/file/static: boot" jqcheck kernel-file '.b_info | .kernel == "/boot/vmlinuz-6.1.0-18-amd64" and .ramdisk == "/boot/initrd.img-6.1.0-18-amd64" and .cmdline == "root=/dev/xvda2 ro elevator=noop" and .max_memkb == 2097152 and .target_memkb == 1048576'
check "kernel/file/static: disks" jqcheck kernel-file '.disks == [
  {"pdev_path": "/srv/xen/domains/mail/disk.img", "vdev": "xvda2", "format": "raw", "readwrite": 1},
  {"pdev_path": "/srv/xen/domains/mail/swap.img", "vdev": "xvda1", "format": "raw", "readwrite": 1}]'
check "kernel/file/static: nics" jqcheck kernel-file '.nics == [{"devid": 0, "mac": "00:16:3e:2a:00:02", "ip": "192.0.2.20", "bridge": "br_lan", "ifname": "vif-mail"}]'

# 3. Whole block devices given to xen-create-image (image_vbd/swap_vbd),
#    two static addresses, no MAC, an admin shell key xl does not know.
render vbd '{
  "hostname": "db", "xen_tools_version": "test", "kernel": "/boot/vmlinuz-6.1.0-18-amd64",
  "vcpus": 4, "memory": 4096, "device": "xvda",
  "image_vbd": "phy:/dev/sdb1", "swap_vbd": "phy:/dev/sdb2",
  "ips": "192.0.2.30 192.0.2.31", "bridge": "xenbr1", "admins": "alice"}'
check "vbd/static: xl create -n succeeds" dry vbd
check "vbd/static: warnings only" only_warnings vbd
check "vbd/static: guest" jqcheck vbd '.c_info.name == "db" and .b_info.max_vcpus == 4 and (.b_info | has("ramdisk") | not)'
check "vbd/static: disks" jqcheck vbd '.disks == [
  {"pdev_path": "/dev/sdb1", "vdev": "xvda2", "format": "raw", "readwrite": 1},
  {"pdev_path": "/dev/sdb2", "vdev": "xvda1", "format": "raw", "readwrite": 1}]'
check "vbd/static: nics" jqcheck vbd '.nics == [{"devid": 0, "ip": "192.0.2.30 192.0.2.31", "bridge": "xenbr1"}]'
check "vbd/static: xen_shell warned about" warned vbd "warning: 'xen_shell' is not an xl.cfg key"

summary xen-tools
