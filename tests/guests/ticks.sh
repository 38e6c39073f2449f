# ticks.sh — sourced by the snapshot and migration tests: what the "count" guest's serial output
# must show across a snapshot or a move.
# shellcheck shell=bash

# ticks_once LOG...: the logs, joined in order, hold ticks 1..40 once each and in order: nothing
# lost or repeated (a pause may split a line between two logs).
ticks_once() {
    [ "$(cat "$@" | grep -o 'tick [0-9]*' | cut -d' ' -f2 | tr '\n' ' ')" = "$(seq -s ' ' 40) " ]
}
