#!/usr/bin/env python3
"""crash_check.py — after truced was killed mid-operation and restarted (tests/manager/crash.sh):
is every VM running (its truce alive and answering with the same state) or stopped (no process),
its definition intact, nothing left "starting"/"stopping", no truce or gated child that no row
names? Prints "OK <summary>" or "BAD <what is wrong>".

usage: crash_check.py SOCK STATE_DIR TRUCED_PID DEFS_DIR VM MUST BYSTANDER_PID
MUST: 1 (VM must exist), 0 (may be absent) or running (a snapshot's VM runs again, not paused).
DEFS_DIR holds NAME.json, each VM's definition as created; BYSTANDER_PID is the pid the VM named
"bystander" (untouched by the operations) must still run as. $CRASH_IGNORE: VMs left out (those
of cases that failed already)."""
import http.client
import json
import os
import socket
import sys
import time

SOCK, STATE, DPID, DEFS, VM, MUST, BYPID = sys.argv[1:8]
DPID, BYPID = int(DPID), int(BYPID)
IGNORE = set(os.environ.get("CRASH_IGNORE", "").split())  # VMs of earlier failed cases
SETTLE_S = 5  # "starting"/"stopping" longer than this is stuck


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("l", timeout=15)
        self.upath = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(15)
        s.connect(self.upath)
        self.sock = s


def get(sock, path):
    c = UnixConn(sock)
    try:
        c.request("GET", path)
        r = c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None
    finally:
        c.close()


def cmdlines():
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                out[int(p)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            pass
    return out


def bad(msg):
    print("BAD " + msg)
    sys.exit(0)


def main():
    t0 = time.monotonic()
    while True:
        st, body = get(SOCK, "/v1/vms")
        if st != 200:
            bad(f"GET /v1/vms answered {st}")
        vms = body["vms"]
        vms = [v for v in vms if v["name"] not in IGNORE]
        busy = [v for v in vms if v["state"] in ("starting", "stopping")]
        if not busy:
            break
        if time.monotonic() - t0 > SETTLE_S:
            bad("stuck: " + ", ".join(f"{v['name']} {v['state']} ({v['reason']})" for v in busy))
        time.sleep(0.05)
    settle_ms = int((time.monotonic() - t0) * 1000)
    names = {v["name"]: v for v in vms}
    if MUST != "0" and VM not in names:
        bad(f"{VM} lost: not in the list")
    if MUST == "running" and names[VM]["state"] != "running":
        bad(f"{VM} {names[VM]['state']} ({names[VM]['reason']}), not running again")
    live = {}
    for v in sorted(vms, key=lambda v: v["name"] != VM):  # VM's own problems first
        n, s, pid = v["name"], v["state"], v["pid"]
        if s in ("running", "paused"):
            try:
                os.kill(pid, 0)
            except OSError:
                bad(f"{n} {s} but its pid {pid} is gone")
            st, inst = get(v["api_sock"], "/")
            want = "Running" if s == "running" else "Paused"
            if st != 200 or inst.get("state") != want:
                bad(f"{n} {s}, but its truce answers {st} {inst}")
            live[pid] = n
        elif s in ("stopped", "crashed", "defined"):
            if pid != 0:
                bad(f"{n} {s} with pid {pid}")
        else:
            bad(f"{n} in state {s}")
        want = json.load(open(os.path.join(DEFS, n + ".json")))
        st, full = get(SOCK, f"/v1/vms/{n}")
        if st != 200 or full.get("config") != want:
            bad(f"{n}: the stored definition differs from the one created")
        try:
            ondisk = json.load(open(os.path.join(STATE, "vms", n, "vm.json")))
        except (OSError, ValueError) as e:
            bad(f"{n}: vm.json: {e}")
        if ondisk != want:
            bad(f"{n}: vm.json differs from the definition")
    by = names.get("bystander")
    if not by or by["state"] != "running" or by["pid"] != BYPID:
        bad(f"bystander not running as pid {BYPID}: {by}")
    # Orphans: a truce of this state dir no running row names, or a child of a dead truced still
    # waiting at its gate. Processes on their way out get 3 s.
    for _ in range(60):
        orphans = []
        for pid, cmd in cmdlines().items():
            if pid == DPID or pid == os.getpid() or any(f"/vms/{n}/" in cmd for n in IGNORE):
                continue
            if f"{STATE}/vms/" in cmd and pid not in live:
                orphans.append(f"{pid}: {cmd[:120]}")
            elif f"--state-dir {STATE} " in cmd:
                orphans.append(f"{pid} (a truced child): {cmd[:80]}")
        if not orphans:
            break
        time.sleep(0.05)
    else:
        bad("orphan processes: " + "; ".join(orphans))
    v = names.get(VM)
    print(f"OK {VM} {v['state'] if v else 'absent'}" + (f" ({v['reason']})" if v and v["reason"] else "")
          + f", settled in {settle_ms} ms")


main()
