#!/usr/bin/env bash
# jail.sh — `truce jail` for real (needs root and /dev/kvm): a tiny guest runs under a jailed
# truce; from outside, the process is checked for its uid/gid, capabilities, no_new_privs, mount
# and pid namespaces, network namespace, cgroup and limits, rlimits, closed fds, empty environment
# and the chroot's contents; the API server jailed Firecracker's way; then --cleanup leaves
# nothing behind. One PASS/FAIL line per case (JAIL_KEEP=1 keeps the work directory).
set -u
cd "$(dirname "$0")/../.."
. tests/wait.sh
. tests/guests/vmflags.sh
TRUCE=$(realpath "${TRUCE:-build/truce}")
G=$(realpath build/guests)
BASE=$(mktemp -d /tmp/truce-jail-XXXXXX)
NETNS=truce-jail-$$
JUID=${JAIL_UID:-65534} JGID=${JAIL_GID:-65534}
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$NETNS" 2>/dev/null
    [ -n "${JAIL_KEEP:-}" ] || rm -rf "$BASE"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || [ ! -c /dev/kvm ]; then
    echo "FAIL jail: needs root and /dev/kvm"
    exit 0
fi

pass() { echo "PASS jail-$1"; }
failc() { echo "FAIL jail-$1: $2"; }
# check NAME CONDITION-TEXT COMMAND...: PASS when COMMAND succeeds.
check() {
    local name=$1 what=$2
    shift 2
    if "$@"; then pass "$name"; else failc "$name" "$what"; fi
}

# Put the guest into the jail's root before the jailer runs (as Firecracker's users hard-link
# their kernel and disks into <chroot>/root).
prep() { # ID
    local root=$BASE/truce/$1/root
    mkdir -p "$root" && cp "$G/actions.elf" "$root/" && chmod 644 "$root/actions.elf"
}
# Wait (at most 10 s) until FILE holds PATTERN.
wait_for() { # FILE PATTERN: up to 30 s (a loaded CI host, e.g. the lab's images being written
    # beside this tier, has delayed a jailed VM's first line past 10 s)
    for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
status_of() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s '\t ' ' '; }

# ---- 1. the full set: new pid ns, cgroup, netns, rlimits, an extra fd left open by the caller
ID=host-1
prep $ID
ROOT=$BASE/truce/$ID/root
CG_ARGS=(--cgroup cgroup.max.descendants=0)
CGMNT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
if [ -n "$CGMNT" ] && grep -qw memory "$CGMNT/cgroup.controllers"; then
    CG_ARGS+=(--cgroup memory.max=512M)
fi
ip netns add "$NETNS" 2>/dev/null || NETNS=
exec 7</etc/hostname
TRUCE_LEAK=1 "$TRUCE" jail --id $ID --exec-file "$TRUCE" --uid "$JUID" --gid "$JGID" \
    --chroot-base-dir "$BASE" --new-pid-ns "${CG_ARGS[@]}" \
    ${NETNS:+--netns /var/run/netns/$NETNS} --resource-limit fsize=100000000,no-file=512 -- \
    run --kernel /actions.elf --cmdline spin --console file:/serial.log --log-level info \
    --thp on </dev/null >"$BASE/jail1.out" 2>&1
rc=$?
exec 7<&-
P=$(cat "$ROOT/truce.pid" 2>/dev/null)
if [ $rc != 0 ] || [ -z "$P" ] || ! wait_for "$ROOT/serial.log" "actions 'spin'"; then
    failc started "jailer status $rc, pid '${P:-}': $(tail -n 3 "$BASE/jail1.out" | tr '\n' '|')"
    exit 0
fi
PIDS+=("$P")
pass started
check uid "Uid is '$(status_of "$P" Uid)'" [ "$(status_of "$P" Uid)" = "$JUID $JUID $JUID $JUID" ]
check gid "Gid is '$(status_of "$P" Gid)'" [ "$(status_of "$P" Gid)" = "$JGID $JGID $JGID $JGID" ]
check groups "supplementary groups '$(status_of "$P" Groups)'" [ -z "$(status_of "$P" Groups)" ]
caps_zero() {
    local c
    for c in CapInh CapPrm CapEff CapBnd CapAmb; do
        [ "$(status_of "$P" $c)" = 0000000000000000 ] || return 1
    done
}
check no-capabilities "$(grep ^Cap "/proc/$P/status" | tr '\n\t' '  ')" caps_zero
check no-new-privs "NoNewPrivs $(status_of "$P" NoNewPrivs)" [ "$(status_of "$P" NoNewPrivs)" = 1 ]
ns() { readlink "/proc/$1/ns/$2"; }
check mount-ns "same mount namespace as the host" [ "$(ns "$P" mnt)" != "$(ns $$ mnt)" ]
check pid-ns "same pid namespace as the host" [ "$(ns "$P" pid)" != "$(ns $$ pid)" ]
check pid-1 "NSpid '$(status_of "$P" NSpid)'" [ "$(status_of "$P" NSpid)" = "$P 1" ]
if [ -n "$NETNS" ]; then
    check netns "net namespace $(ns "$P" net), want $(stat -L -c 'net:[%i]' "/var/run/netns/$NETNS")" \
        [ "$(ns "$P" net)" = "$(stat -L -c 'net:[%i]' "/var/run/netns/$NETNS")" ]
fi
if [ -n "$CGMNT" ]; then
    cg=$(sed -n 's/^0:://p' "/proc/$P/cgroup")
    check cgroup "in cgroup '$cg'" [ "$cg" = "/truce/$ID" ]
    check cgroup-limit "cgroup.max.descendants $(cat "$CGMNT/truce/$ID/cgroup.max.descendants")" \
        [ "$(cat "$CGMNT/truce/$ID/cgroup.max.descendants")" = 0 ]
    if [ ${#CG_ARGS[@]} -gt 2 ]; then
        check cgroup-memory "memory.max $(cat "$CGMNT/truce/$ID/memory.max")" \
            [ "$(cat "$CGMNT/truce/$ID/memory.max")" = 536870912 ]
    fi
fi
lim() { awk -v n="$2" 'index($0, n) == 1 {print $(NF-2), $(NF-1)}' "/proc/$1/limits"; }
check rlimit-nofile "Max open files '$(lim "$P" "Max open files")'" \
    [ "$(lim "$P" "Max open files")" = "512 512" ]
check rlimit-fsize "Max file size '$(lim "$P" "Max file size")'" \
    [ "$(lim "$P" "Max file size")" = "100000000 100000000" ]
check fds-closed "the caller's fd 7 (/etc/hostname) reached truce" \
    bash -c "! ls -l /proc/$P/fd | grep -q /etc/hostname"
check environment "environment: $(tr '\0' ' ' <"/proc/$P/environ")" [ ! -s "/proc/$P/environ" ]
# no /sys in the chroot: truce cannot read the host's THP policy, and --thp on advises anyway
hg=$(ram_hg "$P" 131072)
check thp "guest RAM advised '$hg' (want hg: --thp on)" [ "$hg" = hg ]
check landlock "no landlock line: $(tail -n 2 "$BASE/jail1.out" | tr '\n' '|')" \
    grep -Eq 'landlock: (ABI [0-9]+, file access restricted|not available)' "$BASE/jail1.out"
# the chroot holds the binary, its libraries (linked and dlopen'ed) and loader, the devices, the guest's files, nothing
# else; the root is the jailed user's, the devices are its and 0600
want=$( (
    printf "%s\n" ./truce ./truce.pid ./actions.elf ./serial.log
    for d in /dev/kvm /dev/net/tun /dev/userfaultfd /dev/vhost-net; do [ -c $d ] && echo ".$d"; done
    ldd "$TRUCE" | grep -o '/[^ ]*' | sed 's|^|.|'
    # and libslirp with its own libraries, which truce dlopens for --net user
    slirp=$(ldconfig -p | awk '/libslirp\.so\.0 / { print $NF; exit }')
    [ -z "$slirp" ] || { echo ".$slirp"; ldd "$slirp" | grep -o '/[^ ]*' | sed 's|^|.|'; }
) | sort -u)
got=$(cd "$ROOT" && find . ! -type d | sort)
check chroot-contents "chroot holds: $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')" \
    [ "$want" = "$got" ]
check chroot-owner "root dir $(stat -c '%u:%g %a' "$ROOT")" \
    [ "$(stat -c '%u:%g %a' "$ROOT")" = "$JUID:$JGID 700" ]
check device-nodes "/dev/kvm in the jail: $(stat -c '%u:%g %a %t:%T' "$ROOT/dev/kvm")" \
    [ "$(stat -c '%u:%g %a %t:%T' "$ROOT/dev/kvm")" = "$JUID:$JGID 600 $(stat -c '%t:%T' /dev/kvm)" ]
# SIGTERM from the host reaches pid 1 of the jail (truce blocks it and reads a signalfd)
kill -TERM "$P"
for _ in $(seq 100); do [ -d "/proc/$P" ] || break; sleep 0.1; done
check sigterm "truce still running 10 s after SIGTERM" [ ! -d "/proc/$P" ]
"$TRUCE" jail --cleanup --id $ID --exec-file "$TRUCE" --chroot-base-dir "$BASE" \
    >"$BASE/cleanup.out" 2>&1
rc=$?
left=$(find "$BASE" -mindepth 1 ! -name '*.out'; [ -n "$CGMNT" ] && ls -d "$CGMNT/truce" 2>/dev/null)
cleaned() { [ $rc = 0 ] && [ -z "$left" ]; }
check cleanup "status $rc, left behind: $left $(cat "$BASE/cleanup.out")" cleaned

# ---- 2. without --new-pid-ns the jailer becomes truce: its pid and its exit status
ID=host-2
prep $ID
"$TRUCE" jail --id $ID --exec-file "$TRUCE" --uid "$JUID" --gid "$JGID" --chroot-base-dir "$BASE" \
    -- run --kernel /actions.elf --cmdline acpi-poweroff --console file:/serial.log \
    </dev/null >"$BASE/jail2.out" 2>&1 &
P=$!
wait $P
rc=$?
check exec-status "status $rc, want 0 (acpi-poweroff): $(tail -n 1 "$BASE/jail2.out")" [ $rc = 0 ]
check exec-pid "pid file $(cat "$BASE/truce/$ID/root/truce.pid"), jailer $P" \
    [ "$(cat "$BASE/truce/$ID/root/truce.pid")" = "$P" ]
"$TRUCE" jail --cleanup --id $ID --exec-file "$TRUCE" --chroot-base-dir "$BASE"

# ---- 2b. --uid 0: still no capabilities; the binary and libraries are copies (root could write
# the host's files through hard links); a small fsize limit applies only after the copies
ID=host-2b
prep $ID
ROOT=$BASE/truce/$ID/root
"$TRUCE" jail --id $ID --exec-file "$TRUCE" --uid 0 --gid 0 --chroot-base-dir "$BASE" \
    --resource-limit fsize=4096 -- run --kernel /actions.elf --cmdline acpi-poweroff \
    --console file:/serial.log </dev/null >"$BASE/jail2b.out" 2>&1
rc=$?
check uid0-status "status $rc: $(tail -n 1 "$BASE/jail2b.out")" [ $rc = 0 ]
check uid0-copies "the jail's truce is the host's inode" \
    [ "$(stat -c %d:%i "$ROOT/truce")" != "$(stat -c %d:%i "$TRUCE")" ]
"$TRUCE" jail --cleanup --id $ID --exec-file "$TRUCE" --chroot-base-dir "$BASE"

# ---- 3. --daemonize: a new session, standard I/O on /dev/null
ID=host-3
prep $ID
("$TRUCE" jail --id $ID --exec-file "$TRUCE" --uid "$JUID" --gid "$JGID" --chroot-base-dir "$BASE" \
    --new-pid-ns --daemonize -- run --kernel /actions.elf --cmdline spin \
    --console file:/serial.log >"$BASE/jail3.out" 2>&1)
P=$(cat "$BASE/truce/$ID/root/truce.pid" 2>/dev/null)
if [ -n "$P" ] && wait_for "$BASE/truce/$ID/root/serial.log" "actions 'spin'"; then
    PIDS+=("$P")
    sid=$(awk '{print $6}' "/proc/$P/stat")
    check daemonize-session "session $sid, ours $(awk '{print $6}' /proc/$$/stat)" \
        [ "$sid" != "$(awk '{print $6}' /proc/$$/stat)" ]
    check daemonize-stdio "fd 0-2: $(readlink /proc/"$P"/fd/0 /proc/"$P"/fd/1 /proc/"$P"/fd/2 | tr '\n' ' ')" \
        [ "$(readlink /proc/"$P"/fd/0 /proc/"$P"/fd/1 /proc/"$P"/fd/2 | sort -u)" = /dev/null ]
    kill -TERM "$P"
    for _ in $(seq 100); do [ -d "/proc/$P" ] || break; sleep 0.1; done
else
    failc daemonize "did not start: $(tail -n 2 "$BASE/jail3.out" | tr '\n' '|')"
fi
"$TRUCE" jail --cleanup --id $ID --exec-file "$TRUCE" --chroot-base-dir "$BASE"

# ---- 4. Firecracker's way: the API server in the jail (`-- --api-sock /api.sock`), driven from
# outside through <root>/api.sock; the id the jailer passes (--id=) is the instance's id
ID=host-4
prep $ID
ROOT=$BASE/truce/$ID/root
"$TRUCE" jail --id $ID --exec-file "$TRUCE" --uid "$JUID" --gid "$JGID" --chroot-base-dir "$BASE" \
    -- --api-sock /api.sock --level Info </dev/null >"$BASE/jail4.out" 2>&1 &
P=$!
PIDS+=("$P")
api() { curl -s --unix-socket "$ROOT/api.sock" -X "$1" "http://localhost$2" ${3:+-d "$3"} \
    -o "$BASE/api.body" -w '%{http_code}'; }
wait_sock "$ROOT/api.sock"
info=$(api GET / && cat "$BASE/api.body")
check api-id "GET / answered '$info'" grep -q "\"id\": *\"$ID\"" <<<"$info"
api PUT /boot-source '{"kernel_image_path": "/actions.elf", "boot_args": "spin"}' >"$BASE/api.code"
api PUT /actions '{"action_type": "InstanceStart"}' >>"$BASE/api.code"
wait_for "$BASE/jail4.out" "actions 'spin'"
check api-boot "boot-source, InstanceStart: HTTP $(tr '\n' ' ' <"$BASE/api.code") $(cat "$BASE/api.body"); its output: $(tail -n 4 "$BASE/jail4.out" | tr '\n' '|')" \
    grep -q "actions 'spin'" "$BASE/jail4.out"
check api-landlock "no landlock line: $(grep -i landlock "$BASE/jail4.out")" \
    grep -Eq 'landlock: (ABI [0-9]+, file access restricted|not available)' "$BASE/jail4.out"
check api-jailed "API truce runs as $(status_of "$P" Uid)" \
    [ "$(status_of "$P" Uid)" = "$JUID $JUID $JUID $JUID" ]
kill -TERM "$P"
wait "$P"
"$TRUCE" jail --cleanup --id $ID --exec-file "$TRUCE" --chroot-base-dir "$BASE"

# ---- 5. bad flags: one line naming the flag, status 2, nothing created
bad() { # NAME PATTERN ARGS...
    local name=$1 pat=$2
    shift 2
    "$TRUCE" jail "$@" >/dev/null 2>"$BASE/bad.err"
    local rc=$?
    if [ $rc != 2 ] || [ "$(wc -l <"$BASE/bad.err")" != 1 ] || ! grep -q -- "$pat" "$BASE/bad.err"; then
        failc "$name" "status $rc: $(head -c 200 "$BASE/bad.err")"
    else
        pass "$name"
    fi
}
bad bad-id '--id' --id 'a/b' --exec-file "$TRUCE" --uid 1 --gid 1 --chroot-base-dir "$BASE"
bad bad-exec-file '--exec-file' --id a --exec-file /nonexistent --uid 1 --gid 1
bad bad-cgroup-version '--cgroup-version' --id a --exec-file "$TRUCE" --uid 1 --gid 1 \
    --cgroup-version 1
setpriv --reuid "$JUID" --regid "$JGID" --clear-groups "$TRUCE" jail --id a --exec-file "$TRUCE" \
    --uid 1 --gid 1 --chroot-base-dir "$BASE" >/dev/null 2>"$BASE/bad.err"
rc=$?
not_root_refused() { [ $rc = 4 ] && grep -q "must run as root" "$BASE/bad.err"; }
check not-root "status $rc: $(cat "$BASE/bad.err")" not_root_refused
check bad-nothing-created "$(find "$BASE" -mindepth 1 -type d)" \
    [ -z "$(find "$BASE" -mindepth 1 -type d)" ]
