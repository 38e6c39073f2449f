# wait.sh — sourced by the test scripts: waiting for a process to listen on its UNIX sockets.
# shellcheck shell=bash

# wait_sock PATH...: until every PATH is a socket, at most 30 s (a process start takes seconds in
# the lab's L1, under TCG). Returns 1 when one never became a socket.
wait_sock() {
    local p
    for _ in $(seq 600); do
        for p in "$@"; do [ -S "$p" ] || break; done
        [ -S "$p" ] && return 0
        sleep 0.05
    done
    return 1
}
