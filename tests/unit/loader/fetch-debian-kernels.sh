#!/bin/sh
# Downloads the current Debian cloud and generic amd64 kernel images (the
# versions linux-image-cloud-amd64 and linux-image-amd64 point at right now)
# and puts their vmlinuz-* and System.map-* files into DIR, for
#   XENOLITH_LINUX_IMAGES=DIR build/tests/unit/loader/loader_tests
# The image packages ship a placeholder System.map; with --system-map the
# real one is taken from the matching -dbg package (large: ~280 MB cloud,
# ~860 MB generic download) so the test can cross-check symbol addresses.
#
# Other metapackages can be named after DIR, e.g. the bookworm 6.12
# backport: fetch-debian-kernels.sh DIR linux-image-6.12-cloud-amd64
#
# usage: fetch-debian-kernels.sh [--system-map] DIR [METAPACKAGE...]
set -eu

with_map=no
if [ "${1:-}" = "--system-map" ]; then
    with_map=yes
    shift
fi
if [ $# -lt 1 ]; then
    echo "usage: $0 [--system-map] DIR [METAPACKAGE...]" >&2
    exit 2
fi
dest=$1
shift
if [ $# -eq 0 ]; then
    set -- linux-image-cloud-amd64 linux-image-amd64
fi
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for meta in "$@"; do
    pkg=$(apt-cache depends "$meta" | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
    if [ -z "$pkg" ]; then
        echo "$0: cannot resolve $meta to a kernel package" >&2
        exit 1
    fi
    version=${pkg#linux-image-}
    echo "$meta -> $pkg"
    (cd "$work" && apt-get download "$pkg")
    rm -rf "$work/x"
    dpkg-deb -x "$work/${pkg}"_*.deb "$work/x"
    cp "$work/x/boot/vmlinuz-$version" "$dest/"
    cp "$work/x/boot/System.map-$version" "$dest/"
    rm -f "$work/${pkg}"_*.deb
    if [ "$with_map" = yes ]; then
        (cd "$work" && apt-get download "$pkg-dbg")
        dpkg-deb --fsys-tarfile "$work/${pkg}-dbg"_*.deb |
            tar -x -O "./usr/lib/debug/boot/System.map-$version" > "$dest/System.map-$version"
        rm -f "$work/${pkg}-dbg"_*.deb
    fi
done
ls -l "$dest"
