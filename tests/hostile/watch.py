#!/usr/bin/env python3
"""watch.py — runs and watches one hostile case's truce for tests/hostile/run.sh, without a fork
per sample (a shell loop of awk/find/cat costs seconds a round in the lab's L1, under TCG).

Starts COMMAND with stdin a pipe fed from STDIN_FILE (a console cannot watch a regular file),
stdout and stderr to OUT and ERR. Every 0.5 s it counts the open files and checks whether the
OUTPUT files (serial, stdout) grew. It stops watching when the process exits, an output holds the
parked verdict, nothing grew for HANG_S seconds, or CASE_S seconds passed. A parked process must
then be idle (at most 150 clock ticks of CPU in 2 s); a parked or stuck one gets SIGTERM, and
SIGKILL if still there 5 s later. Prints one line:
  STATUS PEAK_RSS_KIB PEAK_FDS TERM_MS [WHY]
STATUS is the exit status (128 + N for signal N), the peak RSS is the kernel's (wait4), TERM_MS
is how long SIGTERM took (- when not sent), WHY is empty when nothing was wrong.
Usage: watch.py HANG_S CASE_S STDIN_FILE OUT ERR OUTPUT... -- COMMAND..."""
import os
import select
import signal
import subprocess
import sys
import threading
import time

PARKED = b"hostile-verdict: ok (parked)"


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def stat_fields(pid):
    """/proc/PID/stat from its third field (the state) on; None once PID is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_ticks(pid):
    fields = stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0  # utime + stime


def exited(pid):
    """True once PID is a zombie: it exited and waits to be reaped (by us, with wait4)."""
    fields = stat_fields(pid)
    return not fields or fields[0] == b"Z"


def size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def parked(paths):
    for p in paths:
        try:
            with open(p, "rb") as f:
                if PARKED in f.read():
                    return True
        except OSError:
            pass
    return False


def feed(pipe, path):
    try:
        with open(path, "rb") as f:
            pipe.write(f.read())
    except OSError:
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def watch(pid, hang_s, case_s, outputs):
    """Returns (peak fds, state, why): state "exited", "parked" or "stuck". Waits on a pidfd, so
    an exit is seen at once; samples every 0.5 s (a sample costs milliseconds under TCG)."""
    fds = 0
    start = last = time.monotonic()
    last_size = -1
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while not poller.poll(0 if last_size < 0 else 500):
        fds = max(fds, open_fds(pid))
        now = time.monotonic()
        total = sum(size(p) for p in outputs)
        if total != last_size:
            last_size, last = total, now
            if parked(outputs):
                return fds, "parked", ""
        if now - last > hang_s:
            return fds, "stuck", f"hang: no serial progress for {hang_s}s"
        if now - start > case_s:
            return fds, "stuck", f"still running after {case_s}s"
    return fds, "exited", ""


def stop(pid, why):
    """SIGTERM, then SIGKILL after 5 s. Returns (ms SIGTERM took, why)."""
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while not exited(pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    if not exited(pid):
        os.kill(pid, signal.SIGKILL)
        why = (why + "; " if why else "") + "SIGTERM not honoured within 5 s"
    return int((time.monotonic() - t0) * 1000), why


def main():
    args = sys.argv[1:]
    if "--" not in args or args.index("--") < 6:
        sys.exit(__doc__)
    sep = args.index("--")
    hang_s, case_s, stdin_file, out, err = int(args[0]), int(args[1]), args[2], args[3], args[4]
    outputs, cmd = args[5:sep], args[sep + 1:]
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=o, stderr=e)
    threading.Thread(target=feed, args=(proc.stdin, stdin_file), daemon=True).start()
    fds, state, why = watch(proc.pid, hang_s, case_s, outputs)
    term_ms = "-"
    if state == "parked":
        c0 = cpu_ticks(proc.pid)
        time.sleep(2)
        busy = cpu_ticks(proc.pid) - c0
        if busy > 150:  # clock ticks (USER_HZ, 100 a second)
            why = f"busy while the guest idles ({busy} ticks in 2 s)"
    if state != "exited":
        term_ms, why = stop(proc.pid, why)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(code if code >= 0 else 128 - code, usage.ru_maxrss, fds, term_ms, why)


if __name__ == "__main__":
    main()
