#!/usr/bin/env bash
# web.sh — the web console (web/, served by truced --web-root) in headless Chromium: static files
# and their refusals with curl, then web_browser.py drives the browser over the DevTools protocol
# (sign in, create, console, screen, stop). PNGs of the pages go to WEB_SHOTS (default: the test
# directory; `WEB_SHOTS=docs` refreshes the ones in docs/). One PASS/FAIL line a case.
set -u
. "$(dirname "$0")/lib.sh"
mgr_init web

if ! command -v chromium >/dev/null; then
    echo "FAIL manager-web: chromium is not installed (apt-get install chromium; tests/deps.txt)"
    exit 0
fi
# Debian's python3-websocket is for Debian's python3 (lib.sh's $PY)
if ! $PY -c 'import websocket' 2>/dev/null; then
    echo "FAIL manager-web: python3-websocket is not installed (apt-get install python3-websocket)"
    exit 0
fi
MGR_CASE=web mgr_needs "$A" "$D"

PORT=$((20000 + ($$ + 13) % 20000))
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$W/token"
TRUCED_ARGS=(--cgroup-parent "")
start_truced --listen "127.0.0.1:$PORT" --token-file "$W/token" --web-root "$ROOT/web"

# Static files: no token needed; refusals for paths that leave the root or hide.
U="http://127.0.0.1:$PORT"
st() { curl -s -o "$W/body" -w '%{http_code} %{content_type}' --path-as-is "$U$1"; }
s1=$(st /) s2=$(st /vendor/novnc/core/rfb.js) s3=$(st /../../etc/passwd) s4=$(st /.git/config)
s5=$(st /nosuch.html) s6=$(st /v1/vms)
if [ "$s1" = "200 text/html; charset=utf-8" ] && [ "$s2" = "200 text/javascript; charset=utf-8" ] &&
    [ "${s3%% *}" = 400 ] && [ "${s4%% *}" = 400 ] && [ "${s5%% *}" = 404 ] && [ "${s6%% *}" = 401 ]; then
    pass web-static "index $s1, module ${s2%% *}, .. ${s3%% *}, hidden ${s4%% *}, missing ${s5%% *}, API without token ${s6%% *}"
else
    failc web-static "/ $s1; rfb.js $s2; .. $s3; .git $s4; missing $s5; /v1 $s6"
fi

# A VM with a screen for the browser's noVNC, defined and started beside the one the browser makes.
cat >"$W/d.json" <<JSON
{"boot-source": {"kernel_image_path": "$D"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$W/d.serial"},
 "display": {"kind": "vnc", "vnc": "unix:$W/vnc.sock"}}
JSON
"$CTL" --sock "$S" create "$W/d.json" >/dev/null && "$CTL" --sock "$S" start d >/dev/null
for _ in $(seq 300); do grep -q drawn "$W/d.serial" 2>/dev/null && break; sleep 0.1; done

SHOTS=${WEB_SHOTS:-$W}
mkdir -p "$SHOTS"
$PY tests/manager/web_browser.py "$U/" "$(cat "$W/token")" "$SHOTS" "$A" "$W"
"$CTL" --sock "$S" stop d --force >/dev/null
exit 0
