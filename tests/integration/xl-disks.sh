#!/usr/bin/env bash
# Disks through the real xl against a real xenolithd: disk= attached at
# create, xl block-attach/-list/-detach, cd-insert/-eject, what xenstore
# holds (Debian's xenstore-ls/-read), hotplug scripts, and destroy's
# cleanup. Without KVM the parts that need no domain still run: xl's
# messages and exit codes for missing domains, unknown devices, bad specs,
# and -N's JSON.
#   xl-disks.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh" "${1:?usage: xl-disks.sh BUILD_DIR}" xl-disks

kernel="$build/guests/demo.elf"
header='Vdev  BE  handle state evt-ch ring-ref BE-path                       '
have_xs_tools() { command -v xenstore-ls >/dev/null && command -v xenstore-read >/dev/null; }
xs_absent() { ! xenstore-read "$1" >/dev/null 2>&1; }

# ---- no domain needed ------------------------------------------------------------
check "-N block-attach: exit 0" expect_rc 0 "$xl" -N block-attach 99 "$work/a.img,raw,xvdb,w"
printf 'disk: {\n    "pdev_path": "%s",\n    "vdev": "xvdb",\n    "format": "raw",\n    "readwrite": 1\n}\n\n' \
    "$work/a.img" >"$work/want"
check "-N block-attach: libxl's JSON" cmp -s "$work/want" "$work/out"
check "-N block-attach: components" expect_rc 0 "$xl" -N block-attach 99 "$work/a.img" raw xvdb w
check "-N block-attach: same JSON" cmp -s "$work/want" "$work/out"
check "-N block-attach of a name nobody has" expect_rc 1 "$xl" -N block-attach nosuch "$work/a.img,raw,xvdb,w"
check "  xl's message" grep -qx "nosuch is an invalid domain identifier" "$work/err"
check "block-attach to a missing domid" expect_rc 1 "$xl" block-attach 99 "$work/a.img,raw,xvdb,w"
check "  libxl's lines" grep -qx "libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=99" "$work/err"
check "  xl's line" grep -qx "libxl_device_disk_add failed." "$work/err"
check "bad vdev" expect_rc 1 "$xl" block-attach 99 "$work/a.img,raw,xvd1,w"
check "  spec named" grep -qF "command line: config parsing error in disk specification: " "$work/err"
check "bad format" expect_rc 1 "$xl" -N block-attach 99 "format=qcow9,vdev=xvda,target=/a"
check "block-attach needs two arguments" expect_rc 2 "$xl" block-attach 99
check "block-list of a missing domid: header only" expect_rc 0 "$xl" block-list 99
check "  the header" test "$(cat "$work/out")" = "$header"
check "block-list of a name nobody has" expect_rc 0 "$xl" block-list nosuch
check "  xl's message" grep -qx "nosuch is an invalid domain identifier" "$work/err"
check "block-detach of a missing domid" expect_rc 1 "$xl" block-detach 99 xvda
check "  not connected" grep -qx "Error: Device xvda not connected." "$work/err"
check "block-detach by name nobody has" expect_rc 1 "$xl" block-detach nosuch xvda
check "  find_domain's message" grep -qx "nosuch is an invalid domain identifier (rc=-6)" "$work/err"
check "block-detach -N is refused" expect_rc 1 "$xl" -N block-detach 99 xvda
check "block-list -N is refused" expect_rc 1 "$xl" -N block-list 99
check "cd-insert of a missing file" expect_rc 1 "$xl" cd-insert 99 hdc "$work/none.iso"
check "  xl's message" grep -qx "Cannot stat file: $work/none.iso" "$work/err"
: >"$work/cd.iso"
check "cd-insert on a missing domid" expect_rc 1 "$xl" cd-insert 99 hdc "$work/cd.iso"
check "  libxl's line" grep -qx "libxl: error: libxl_dom.c:37:libxl__domain_type: unable to get domain type for domid=99" "$work/err"
check "cd-eject on a missing domid" expect_rc 1 "$xl" cd-eject 99 hdc
if have_xs_tools; then
    check "nothing was written to xenstore" xs_absent /libxl/99
else
    skip "xenstore checks: no xenstore-ls/xenstore-read (Debian's xen-utils)"
fi

# ---- guests ------------------------------------------------------------------------
if needs_kvm "disk= at create, block-attach/-list/-detach, cd-insert, destroy's cleanup"; then
    truncate -s 4M "$work/root.img" "$work/data.img"
    cfg=$(guest_cfg disks demo 32 "disk = [ '$work/root.img,raw,xvda,w', '$work/cd.iso,raw,hdc:cdrom,r' ]")
    check "create with disks" expect_rc 0 "$xl" create -p "$cfg"
    domid=$("$xl" domid disks)
    be="/local/domain/0/backend/vbd/$domid"
    check "block-list: two disks" expect_rc 0 "$xl" block-list disks
    check "  xvda's row" grep -qE "^51712 +0 +$domid +1 +-1 +-1 +$be/51712 *$" "$work/out"
    check "  hdc's row" grep -qE "^5632 +0 +$domid +1 +-1 +-1 +$be/5632 *$" "$work/out"
    if have_xs_tools; then
        check "back-end params" test "$(xenstore-read "$be/51712/params")" = "$work/root.img"
        check "back-end mode" test "$(xenstore-read "$be/51712/mode")" = w
        check "front-end points at it" test "$(xenstore-read "/local/domain/$domid/device/vbd/51712/backend")" = "$be/51712"
        check "libxl's copy" test "$(xenstore-read "/libxl/$domid/device/vbd/5632/frontend")" = "/local/domain/$domid/device/vbd/5632"
        check "xenstore-ls lists them" bash -c "xenstore-ls $be | grep -q '^51712 = \"\"'"
    fi
    "$xl" list -l disks >"$work/listl"
    check "list -l: two disks" test "$(jq '.[0].config.disks | length' "$work/listl")" = 2
    # Each disk is served by its own sandboxed xenolith-blkback, a child of
    # this daemon, which offers the device (InitWait) to the front end.
    blkbacks() { pgrep -P "$daemon" -f "xenolith-blkback --frontend-domid=$domid " | wc -l; }
    check "a back-end process per disk" wait_for 5 test "$(blkbacks)" -eq 2
    if have_xs_tools; then
        check "  xvda offered (InitWait)" wait_for 5 test "$(xenstore-read "$be/51712/state")" = 2
        check "  its disk facts" test "$(xenstore-read "$be/51712/sectors")" = 8192
        check "  the empty-ish cdrom is read-only" test "$(xenstore-read "$be/5632/info")" = 7
    fi

    check "block-attach" expect_rc 0 "$xl" block-attach disks "$work/data.img,raw,xvdb,r"
    check "block-list: three" test "$("$xl" block-list disks | wc -l)" -eq 4
    "$xl" list -l disks >"$work/listl"
    check "list -l: the new disk" jq -e ".[0].config.disks[2] | .vdev == \"xvdb\" and .pdev_path == \"$work/data.img\"" "$work/listl"
    check "attach the same vdev again" expect_rc 1 "$xl" block-attach disks "$work/data.img,raw,51728,r"
    check "  device exists" grep -q "device already exists in xenstore" "$work/err"
    check "attach a missing image" expect_rc 1 "$xl" block-attach disks "$work/none.img,raw,xvdc,r"
    check "  names disk and file" grep -qF "disk 'xvdc': $work/none.img: No such file or directory" "$work/err"
    [ -n "$(command -v xenstore-read)" ] && check "  no node left" xs_absent "$be/51744"
    check "  its back-end runs" wait_for 5 test "$(blkbacks)" -eq 3
    check "block-detach by vdev" expect_rc 0 "$xl" block-detach disks xvdb
    check "  its back-end is gone" wait_for 5 test "$(blkbacks)" -eq 2
    [ -n "$(command -v xenstore-read)" ] && check "  its nodes are gone" xs_absent "$be/51728"
    "$xl" list -l disks >"$work/listl"
    check "list -l: detached" test "$(jq '.[0].config.disks | length' "$work/listl")" = 2
    check "block-detach unknown" expect_rc 1 "$xl" block-detach disks xvdq
    check "  not connected" grep -qx "Error: Device xvdq not connected." "$work/err"
    check "cd-insert on a PVH guest" expect_rc 1 "$xl" cd-insert disks hdc "$work/cd.iso"
    check "  needs HVM, as libxl" grep -q "Domain $domid:cdrom-insert requires an HVM domain" "$work/err"
    check "block-detach by number" expect_rc 0 "$xl" block-detach disks 51712
    check "destroy" expect_rc 0 "$xl" destroy disks
    check "destroy stopped every back-end" test "$(blkbacks)" -eq 0
    if have_xs_tools; then
        check "destroy removed the back-ends" xs_absent "$be"
        check "and libxl's copies" xs_absent "/libxl/$domid"
    fi

    # A missing image fails the create, naming the config line; nothing stays.
    cfg=$(guest_cfg nodisk demo 32 "disk = [ '$work/none.img,raw,xvda,w' ]")
    check "create with a missing image" expect_rc 1 "$xl" create -p "$cfg"
    check "  config place, disk and file" grep -qF "$cfg:5:" "$work/err"
    check "  the reason" grep -qF "disk 'xvda': $work/none.img: No such file or directory" "$work/err"
    check "  no domain" expect_rc 1 "$xl" domid nodisk

    # A hotplug script of the user's runs with Xen's contract.
    cat >"$work/hotplug" <<SCRIPT
#!/bin/sh
echo "\$1 \$XENBUS_TYPE \$XENBUS_PATH" >>"$work/hotplug.log"
[ "\$1" = add ] && xenstore-write "\$XENBUS_PATH/physical-device" 7:0 "\$XENBUS_PATH/hotplug-status" connected
exit 0
SCRIPT
    chmod +x "$work/hotplug"
    if have_xs_tools; then
        cfg=$(guest_cfg scripted demo 32 "disk = [ 'script=$work/hotplug,vdev=xvda,target=lun0' ]")
        check "create with script=" expect_rc 0 "$xl" create -p "$cfg"
        sdom=$("$xl" domid scripted)
        check "  add ran with XENBUS_PATH" grep -qx "add vbd backend/vbd/$sdom/51712" "$work/hotplug.log"
        check "  physical-device" test "$(xenstore-read "/local/domain/0/backend/vbd/$sdom/51712/physical-device")" = 7:0
        check "destroy it" expect_rc 0 "$xl" destroy scripted
        check "  remove ran" grep -qx "remove vbd backend/vbd/$sdom/51712" "$work/hotplug.log"
    fi
fi

summary xl-disks
