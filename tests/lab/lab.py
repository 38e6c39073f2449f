#!/usr/bin/env python3
"""lab.py — host side of the nested lab: boots L1 under TCG with a batch of scenarios, turns its
LAB-RESULT serial lines into PASS/FAIL lines, and enforces every scenario's hard timeout (a hung
L1 is killed and rebooted with the scenarios that have not run yet)."""

import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

L1_BOOT_TIMEOUT = 180  # seconds from starting QEMU to LAB-READY
GRACE = 30  # added to a scenario's own timeout before the host gives up on it
SILENCE = 120  # once L1 sends LAB-ALIVE heartbeats (every 15 s): this long without a line = wedged
CMDLINE_ROOM = 1700  # the L1 kernel command line is limited to 2048 bytes
RESULT_RE = re.compile(r"LAB-RESULT (PASS|FAIL) (\S+) ?(.*)")


def emit(stream, text):
    """Write TEXT as one whole line with a single write(2): stdout and stderr often share one
    pipe (run-tests.sh reads `2>&1`), where a line split in two writes could be torn apart."""
    os.write(stream.fileno(), (text + "\n").encode("utf-8", "replace"))


def log(msg):
    """Progress on stderr; stdout carries only PASS/FAIL lines."""
    emit(sys.stderr, f"lab: {msg}")


def report(name, ok, reason=""):
    """Print one result line in the test-tier format."""
    emit(sys.stdout, f"PASS {name}" if ok else f"FAIL {name}: {reason}")


class L1:
    """One L1 boot: the QEMU process and a line reader over its serial output."""

    def __init__(self, cmd, logpath, verbose):
        self.log = open(logpath, "w", encoding="utf-8", errors="replace")
        self.verbose = verbose
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.buf = b""

    def readline(self, deadline):
        """Return the next line, "" at EOF, or None when DEADLINE (time.monotonic) passes."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                if self.buf:
                    break
                return ""
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        text = line.decode("utf-8", "replace").rstrip("\r")
        self.log.write(text + "\n")
        self.log.flush()
        if self.verbose:
            emit(sys.stderr, f"  L1| {text}")
        return text if text else " "

    def stop(self):
        """Kill L1 (its whole process group) and reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.log.close()


def batch(pending, failed):
    """The scenario names (and failed list) that fit on one L1 kernel command line."""
    names, size = [], len(",".join(failed))
    for name in pending:
        if size + len(name) + 1 > CMDLINE_ROOM and names:
            break
        names.append(name)
        size += len(name) + 1
    return names


class Boot:
    """The results of one L1 boot: every decided scenario is reported at once."""

    def __init__(self, names, results):
        self.names, self.results, self.done = names, results, []

    def decide(self, name, ok, why=""):
        if name in self.results:
            return
        self.results[name] = (ok, why)
        self.done.append(name)
        report(name, ok, why)

    def decide_rest(self, why):
        for n in self.names:
            self.decide(n, False, why)


def run_boot(args, names, failed, timeouts, results, boot_no, stalled):
    """Boot L1 once for NAMES, recording results. Returns the names decided in this boot.

    A scenario during which L1 falls silent past the scenario's own timeout (which L1 enforces
    itself, killing the VMM and reporting FAIL), or for SILENCE seconds once L1 sends heartbeats,
    means L1 stopped running: TCG's nested-SVM emulation has been seen to wedge with L1 idle and
    no timer firing. Such a scenario is rerun once in a fresh L1 (logged); a second stall fails
    it."""
    append = f"{args.append} lab.run={','.join(names)}"
    if failed:
        append += f" lab.failed={','.join(failed)}"
    logpath = os.path.join(args.log_dir, f"l1-{args.log_tag}{boot_no}.log")
    log(f"booting L1 #{boot_no} for {len(names)} scenario(s), serial log {logpath}")
    l1 = L1(args.qemu + ["-append", append], logpath, args.verbose)
    b = Boot(names, results)
    current, ended, started, alive = None, False, 0.0, False
    deadline = time.monotonic() + L1_BOOT_TIMEOUT
    try:
        while True:
            silent_at = time.monotonic() + SILENCE if alive else deadline
            line = l1.readline(min(deadline, silent_at))
            if line is None:  # the host-side backstop
                why = (f"no output for {SILENCE}s, no heartbeat" if time.monotonic() < deadline
                       else f"no result within {timeouts[current] + GRACE}s" if current else "")
                if current and current not in stalled:
                    stalled.add(current)
                    log(f"{current}: L1 stalled ({why}; its own timeouts never fired); "
                        "rerunning it once in a fresh L1")
                elif current:
                    b.decide(current, False, f"{why}; L1 killed by the host-side backstop (twice)")
                elif time.monotonic() < deadline and not ended:  # silent between scenarios
                    stalled.add(f"#{boot_no}")  # (a reboot, not "no progress")
                    log(f"L1 stalled between scenarios ({why}); rebooting it for the rest")
                elif not b.done and not ended:
                    b.decide_rest(f"L1 did not start within {L1_BOOT_TIMEOUT}s")
                return b.done
            if line == "":
                status = l1.proc.wait()
                if current:
                    b.decide(current, False, f"L1 exited (status {status}) during the scenario")
                elif not b.done and not ended:
                    b.decide_rest(f"L1 exited (status {status}) before running any scenario")
                return b.done
            if line == "LAB-ALIVE":
                alive = True
                continue
            if "LAB-L1-FAIL" in line:
                b.decide_rest("L1: " + line.split("LAB-L1-FAIL", 1)[1].strip())
                return b.done
            m = re.search(r"LAB-START (\S+)", line)
            if m and m.group(1) in timeouts:
                current = m.group(1)
                started = time.monotonic()
                deadline = started + timeouts[current] + GRACE
                log(f"running {current}")
                continue
            m = RESULT_RE.search(line)
            if m and m.group(2) in timeouts:
                b.decide(m.group(2), m.group(1) == "PASS", m.group(3).strip() or "failed")
                if current == m.group(2):  # what each scenario costs the lab tier: times.txt
                    with open(os.path.join(args.log_dir, "times.txt"), "a") as t:
                        t.write(f"{current} {time.monotonic() - started:.0f}\n")
                current = None
                deadline = time.monotonic() + L1_BOOT_TIMEOUT
            elif "LAB-READY" in line:
                log("L1 ready: " + line.split("LAB-READY", 1)[1].strip())
                deadline = time.monotonic() + L1_BOOT_TIMEOUT
            elif "LAB-END" in line:
                ended = True
                deadline = time.monotonic() + 30
    finally:
        l1.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--append", default="console=ttyS0 quiet panic=-1")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--log-tag", default="", help="serial logs are l1-TAGN.log (a second batch)")
    ap.add_argument("--scenario", action="append", default=[], metavar="NAME:TIMEOUT")
    ap.add_argument("qemu", nargs=argparse.REMAINDER, help="-- the L1 QEMU command")
    args = ap.parse_args()
    if args.qemu and args.qemu[0] == "--":
        args.qemu = args.qemu[1:]
    os.makedirs(args.log_dir, exist_ok=True)
    timeouts = {}
    for spec in args.scenario:
        name, _, t = spec.rpartition(":")
        timeouts[name] = int(t)
    pending = list(timeouts)
    results, failed, boot_no, stalled = {}, [], 0, set()
    while pending:
        boot_no += 1
        done = run_boot(args, batch(pending, failed), failed, timeouts, results, boot_no, stalled)
        for n in done:
            if n in pending:
                pending.remove(n)
            if not results[n][0]:
                failed.append(n)
        if (not done and not stalled) or boot_no > len(timeouts) + len(stalled) + 2:
            for n in pending:
                report(n, False, "L1 made no progress")
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
