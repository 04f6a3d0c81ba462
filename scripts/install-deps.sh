#!/usr/bin/env bash
# Installs what xenolith needs on Debian 12 (idempotent).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libxen-dev libfmt-dev nlohmann-json3-dev zlib1g-dev libbz2-dev liblzma-dev
      liblz4-dev libzstd-dev libgtest-dev libgmock-dev libbenchmark-dev
      xenstore-utils python3 jq libtext-template-perl libncurses-dev gdb
      liburing-dev fio libseccomp-dev libzydis-dev ccache
      iproute2 nftables iputils-ping)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
fi

# Xen's test-xenstore and xenstore-control (tests/integration/xenstore.sh)
# come from xen-utils-4.17, which is unpacked, not installed: installing it
# pulls in udev, upgrades systemd and adds Xen's init scripts, none of which
# belongs on a KVM host (docs/xenstore.md).
cache=${XENOLITH_CACHE:-/var/cache/xenolith}/xen-utils-4.17
if [ ! -x "$cache/usr/lib/xen-4.17/bin/test-xenstore" ] && [ ! -x /usr/lib/xen-4.17/bin/test-xenstore ]; then
    tmp=$(mktemp -d)
    # A stale package list makes the download 404: refresh it once and retry.
    if (cd "$tmp" && { apt-get download -qq xen-utils-4.17 ||
                       { apt-get update -qq && apt-get download -qq xen-utils-4.17; }; }); then
        mkdir -p "$cache" && dpkg-deb -x "$tmp"/xen-utils-4.17_*.deb "$cache"
    fi
    rm -rf "$tmp"
fi
