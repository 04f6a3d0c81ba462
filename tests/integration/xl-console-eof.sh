#!/usr/bin/env bash
# `xl console` after its stream ends: exit 0 when the domain went away (the
# daemon closes the stream and keeps listening), 1 with a message when the
# daemon itself died (its listening socket is gone). A stand-in daemon
# plays both endings, so this runs without /dev/kvm; guard.sh does the same
# against a real xenolithd.
#   xl-console-eof.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: xl-console-eof.sh BUILD_DIR}" && pwd)
xl="$build/src/toolstack/xl/xl"
work=$(mktemp -d /tmp/xenolith-coneof.XXXXXX)
trap 'rm -rf "$work"' EXIT
export XENOLITH_RUN_DIR="$work/run"
mkdir -p "$XENOLITH_RUN_DIR"
passed=0 failed=0
check() {
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}

# fake_daemon MODE: answers one console request, sends some output, then
# MODE=domain-gone shuts the stream and keeps listening a while;
# MODE=daemon-dies closes the listening socket first, then the stream.
fake_daemon() {
    python3 - "$XENOLITH_RUN_DIR/xenolithd.sock" "$1" <<'PY' &
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
lst = socket.socket(socket.AF_UNIX)
lst.bind(path)
lst.listen(4)
conn, _ = lst.accept()
conn.makefile().readline()
conn.sendall(b'{"domid":1,"ok":true}\n' + b"guest output\n")
time.sleep(0.3)
if mode == "daemon-dies":
    lst.close()
    conn.close()
else:
    conn.shutdown(socket.SHUT_RDWR)
    conn.close()
    lst.settimeout(5)
    try:
        lst.accept()[0].close()  # xl's liveness check
    except socket.timeout:
        pass
PY
    fake=$!
    for _ in $(seq 100); do [ -S "$XENOLITH_RUN_DIR/xenolithd.sock" ] && break; sleep 0.05; done
}

fake_daemon domain-gone
timeout 20 "$xl" console d </dev/null >"$work/out" 2>"$work/err"
rc=$?
wait "$fake"
check "domain gone: xl console exits 0 (rc $rc)" test "$rc" -eq 0
check "... after showing the output" grep -q 'guest output' "$work/out"

rm -f "$XENOLITH_RUN_DIR/xenolithd.sock"
fake_daemon daemon-dies
timeout 20 "$xl" console d </dev/null >"$work/out" 2>"$work/err"
rc=$?
wait "$fake"
check "daemon died: xl console exits 1 (rc $rc)" test "$rc" -eq 1
check "... saying so" grep -q 'lost the connection to xenolithd' "$work/err"

echo "xl-console-eof: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
