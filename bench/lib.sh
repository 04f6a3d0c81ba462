# Shared by the bench scripts: a private xenolithd on a build directory.
# Usage: source bench/lib.sh BUILD_DIR
source "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib.sh" "${1:-build-release}" bench
bench_work=$work bench_daemon=$daemon

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# median_of VALUES...: the same, of its arguments.
median_of() { printf '%s\n' "$@" | median; }
