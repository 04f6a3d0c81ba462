# Shared by the bench scripts: a private xenolithd on a build directory.
# Usage: source bench/lib.sh BUILD_DIR
build=$(cd "${1:-build-release}" && pwd)
xl="$build/src/toolstack/xl/xl"
bench_work=$(mktemp -d /tmp/xenolith-bench.XXXXXX)
export XENOLITH_RUN_DIR="$bench_work/run"
"$build/src/daemon/xenolithd" --run-dir "$XENOLITH_RUN_DIR" --log-dir "$bench_work/log" \
    2>"$bench_work/xenolithd.log" &
bench_daemon=$!
trap 'kill $bench_daemon 2>/dev/null; wait $bench_daemon 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$XENOLITH_RUN_DIR/xenolithd.sock" ] && break; sleep 0.05; done

# guest_cfg NAME ELF MEMORY_MIB [extra lines...] -> path of a config file
guest_cfg() {
    local name=$1 elf=$2 mem=$3; shift 3
    local cfg="$bench_work/$name.cfg"
    { echo "name = \"$name\""; echo 'type = "pvh"'; echo "kernel = \"$build/guests/$elf.elf\""
      echo "memory = $mem"; for l in "$@"; do echo "$l"; done; } >"$cfg"
    echo "$cfg"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
