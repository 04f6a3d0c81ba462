#!/usr/bin/env bash
# `xl dump-core` cost: wall time of the whole command (the guest is paused
# for most of it) and the core's size, for a 32 MiB and a 2 GiB pvcontrol
# guest. Untouched and ballooned-out memory are memfd holes: they cost no
# file bytes and no copying (SEEK_DATA/SEEK_HOLE), so both sizes should be
# close. Usage: bench/dump-core.sh [build] [runs]
set -u
source "$(dirname "$0")/lib.sh" "${1:-build-release}"
runs=${2:-11}
# What any xl command costs here (connect, request, reply), for scale.
for _ in $(seq "$runs"); do
    t0=$(date +%s%N); "$xl" list >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000 ))
done | median >"$work/median"
printf 'xl list (baseline):          median %6.0f us\n' "$(cat "$work/median")"
for mem in 32 2048; do
    name=dump$mem
    "$xl" create -q "$(guest_cfg "$name" pvcontrol "$mem" 'extra = "bench"')"
    wait_for 30 grep -q "pvcontrol: ready" "$work/log/guest-$name.log" || { echo "$name did not start"; exit 1; }
    for _ in $(seq "$runs"); do
        t0=$(date +%s%N)
        "$xl" dump-core "$name" "$work/$name.core" || exit 1
        echo $(( ($(date +%s%N) - t0) / 1000 ))
    done | median >"$work/median"
    printf 'dump-core %5d MiB guest: median %6.0f us per dump, core %d KiB (%d runs)\n' \
        "$mem" "$(cat "$work/median")" $(( $(stat -c %s "$work/$name.core") / 1024 )) "$runs"
    "$xl" destroy "$name"
done
