# lib.sh — what the manager test scripts share: paths, PASS/FAIL lines, truced started on a
# socket and state dir, the ctl/raw/jget helpers, and the cleanup of this run's processes.
# Sourced (not run) after `set -u`; MGR_PREFIX names the cases ("manager-" by default) and
# mgr_init NAME makes the work dir $W with $S (truced's socket) and $STATE (its state dir).
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
. tests/wait.sh
ROOT=$PWD
TRUCED=$ROOT/build/truced
CTL=$ROOT/build/trucectl
A=$ROOT/build/guests/actions.elf
D=$ROOT/build/guests/display.elf
# The system's python3: it has Debian's python3-* modules, and a version manager's shim earlier
# on PATH costs ~0.25 s a call.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
MGR_PREFIX=${MGR_PREFIX:-manager-}
DPID=

pass() { echo "PASS $MGR_PREFIX$1${2:+ ($2)}"; }
failc() { echo "FAIL $MGR_PREFIX$1: $2"; }

# mgr_init NAME: the work dir (kept with MGR_KEEP=1), and the cleanup on exit.
mgr_init() {
    W=$(mktemp -d "/tmp/truced-$1-XXXXXX")
    S=$W/d.sock
    STATE=$W/state
    trap mgr_cleanup EXIT
}
# mgr_kill_vms DIR...: every process started for a VM under the state dirs DIR (their paths are on
# the command line), so only this run's VMs.
mgr_kill_vms() {
    local d p
    for d in "$@"; do
        for p in $(pgrep -f -- "$d/vms/"); do kill -KILL "$p" 2>/dev/null; done
    done
}
# mgr_cleanup: truced, this run's VMs, then the script's own mgr_extra_cleanup if it has one.
mgr_cleanup() {
    [ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
    mgr_kill_vms "$W"/state*
    declare -F mgr_extra_cleanup >/dev/null && mgr_extra_cleanup
    [ -n "${MGR_KEEP:-}" ] || rm -rf "$W"
}

# truced_spawn SOCK STATE_DIR ERR_FILE [ARGS...]: a truced in the background ($! is its pid).
truced_spawn() {
    local sock=$1 state=$2 err=$3
    shift 3
    rm -f "$sock" # a killed truced leaves its socket file: wait for the new one
    "$TRUCED" --sock "$sock" --state-dir "$state" --truce "$ROOT/build/truce" "$@" 2>>"$err" &
}
# start_truced [ARGS...]: the script's truced on $S and $STATE, with "${TRUCED_ARGS[@]}" first.
start_truced() {
    truced_spawn "$S" "$STATE" "$W/truced.err" "${TRUCED_ARGS[@]}" "$@"
    DPID=$!
    wait_sock "$S"
}

ctl() { "$CTL" --sock "$S" "$@"; }
# jget NAME KEY [SOCK]: one field of GET /v1/vms/NAME (a dotted path into the JSON), "" if none.
# jq, not python3: it is called in wait loops, and a python3 start costs a second in the lab's L1.
jget() {
    "$CTL" --sock "${3:-$S}" get "$1" --json 2>/dev/null |
        jq -r --arg k "$2" 'try getpath($k | split(".")) catch null | if . == null then "" else . end' 2>/dev/null
}
# wait_state NAME STATE: up to 10 s.
wait_state() {
    for _ in $(seq 200); do [ "$(jget "$1" state)" = "$2" ] && return 0; sleep 0.05; done
    return 1
}
# raw METHOD PATH [BODY]: the status code (000 when truced died before answering), reply in
# $W/reply.
raw() {
    curl -s -o "$W/reply" -w '%{http_code}' --max-time 60 --unix-socket "$S" -X "$1" \
        "http://l$2" ${3:+-d "$3"}
}
# py CODE...: Python with tests/manager/wsc imported and ADDR set to $S.
py() { $PY -c "import sys; sys.path.insert(0, 'tests/manager'); import wsc; ADDR='$S'
$1"; }
# mgr_needs FILE...: a FAIL line and exit unless root, /dev/kvm, truced and the FILEs are here.
mgr_needs() {
    local f
    [ "$(id -u)" = 0 ] && [ -c /dev/kvm ] && [ -x "$TRUCED" ] || {
        failc "${MGR_CASE:-setup}" "needs root, /dev/kvm and build/truced"
        exit 0
    }
    for f in "$@"; do
        [ -f "$f" ] || {
            failc "${MGR_CASE:-setup}" "needs $f (make)"
            exit 0
        }
    done
}
