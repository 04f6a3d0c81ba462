# Shared by xenolith's hotplug scripts (sourced, not run). The contract is
# Xen's: the toolstack runs a script with a command (online, offline, add,
# remove) and XENBUS_PATH, the device's back-end directory in xenstore; the
# script reads its parameters there and answers in $XENBUS_PATH/hotplug-status
# ("connected", or "error" with the reason in hotplug-error).
#
# xenstore is reached with xenstore-read/xenstore-write (Debian's
# xenstore-utils), which honour XENSTORED_PATH.

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export LANG=POSIX
unset LC_ALL LC_CTYPE LC_MESSAGES LC_NUMERIC

XEN_SCRIPT_DIR=${XEN_SCRIPT_DIR:-/etc/xen/scripts}
XEN_HOTPLUG_LOG=${XEN_HOTPLUG_LOG:-/var/log/xen/xen-hotplug.log}
XEN_LOCK_DIR=${XEN_LOCK_DIR:-/run/xen-hotplug}

# Our messages go to the hotplug log when its directory exists (xl reports
# the tail of it on failure), otherwise to whoever ran us.
if [ -d "$(dirname "$XEN_HOTPLUG_LOG")" ] && [ -w "$(dirname "$XEN_HOTPLUG_LOG")" ]; then
    exec 2>>"$XEN_HOTPLUG_LOG"
fi

# log <level> <message...>: to syslog when logger exists, and to stderr.
log() {
    local level=$1
    shift
    [ "$level" = debug ] && [ -z "${XEN_HOTPLUG_DEBUG:-}" ] && return 0
    echo "$(basename "$0"): $level: $*" >&2
    command -v logger >/dev/null 2>&1 && logger -p "daemon.$level" -t "$(basename "$0")" -- "$*" 2>/dev/null
    return 0
}

_xenstore_write() { xenstore-write "$@"; }

xenstore_write() {
    _xenstore_write "$@" || fatal "cannot write $* to xenstore"
}

# A key that must be there.
xenstore_read() {
    local v
    v=$(xenstore-read "$@" 2>/dev/null) || v=
    [ -n "$v" ] || fatal "xenstore-read $* failed"
    printf '%s\n' "$v"
}

# A key, or the default when it is missing.
xenstore_read_default() {
    xenstore-read "$1" 2>/dev/null || printf '%s\n' "$2"
}

# Reports the failure where the toolstack looks for it, then stops.
fatal() {
    trap - ERR
    if [ -n "${XENBUS_PATH:-}" ]; then
        _xenstore_write "$XENBUS_PATH/hotplug-error" "$*" \
                        "$XENBUS_PATH/hotplug-status" error 2>/dev/null
    fi
    log err "$*"
    exit 1
}

success() {
    xenstore_write "$XENBUS_PATH/hotplug-status" connected
}

do_or_die() {
    "$@" || fatal "$* failed"
}

do_without_error() {
    "$@" 2>/dev/null || log debug "$* failed"
}

# Any command that fails outside a test is a failure of the script.
sigerr() { fatal "$0 failed; error detected."; }
trap sigerr ERR

# claim_lock <name> / release_lock <name>: one script at a time per name
# (the bridge, iptables), with flock(1).
declare -A _xen_lock_fds
claim_lock() {
    mkdir -p "$XEN_LOCK_DIR"
    local fd
    exec {fd}>>"$XEN_LOCK_DIR/$1"
    flock "$fd"
    _xen_lock_fds[$1]=$fd
}
release_lock() {
    local fd=${_xen_lock_fds[$1]:-}
    [ -n "$fd" ] || return 0
    flock -u "$fd"
    exec {fd}>&-
    unset "_xen_lock_fds[$1]"
}

# call_hooks <devtype> <phase>: sources <script dir>/<devtype>-<phase>.d/*.hook.
call_hooks() {
    local f
    for f in "$XEN_SCRIPT_DIR/$1-$2.d"/*.hook; do
        # shellcheck disable=SC1090  # users' hooks
        if [ -x "$f" ]; then . "$f"; fi
    done
}
