#!/usr/bin/env python3
"""api_test.py — integration tests of `truce --api-sock`: every path and method of the Firecracker
spec (a good request and at least two bad ones each), wrong-state cases, malformed and oversized
HTTP, response bodies validated against the spec's schemas, the config file and the exit status.
Prints one PASS/FAIL line per case."""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apilib import Spec, Truce  # noqa: E402
import cases  # noqa: E402
import http_cases  # noqa: E402
import boot_cases  # noqa: E402
import mmds_cases  # noqa: E402


class Results:
    def __init__(self):
        self.failed = 0
        self.coverage = {}  # (METHOD, template) -> [good, bad]

    def report(self, name, why=None):
        if why:
            self.failed += 1
            print(f"FAIL {name}: {why}", flush=True)
        else:
            print(f"PASS {name}", flush=True)

    def count(self, kind, method, template):
        c = self.coverage.setdefault((method, template), [0, 0])
        c[0 if kind == "good" else 1] += 1


def run_case(t, spec, res, phase, i, case):
    kind, method, tmpl, path, body, want, needle = case
    name = f"{phase}-{i:02d} {method} {path} ({kind})"
    try:
        r = t.request(method, path, body)
    except Exception as e:  # a dead server is a failure of this case, not of the script
        return res.report(name, f"no response: {e}")
    why = None
    if r.status != want:
        why = f"status {r.status}, want {want}: {r.body[:200]}"
    elif needle and needle not in r.fault():
        why = f"fault_message {r.fault()!r} lacks {needle!r}"
    elif method in [m for m, _ in spec.operations() if _ == tmpl]:
        why = spec.check(method, tmpl, r)
    if method in {m for m, p in spec.operations() if p == tmpl}:
        res.count(kind, method, tmpl)
    res.report(name, why)


def files(work, a):
    c = {k: os.path.join(work, k) for k in
         ("disk", "disk2", "pmem", "logpath", "metrics", "serial", "vsock", "snap",
          "snapmem")}
    c["kernel"] = a.ticker
    for k, size in (("disk", 1 << 20), ("disk2", 2 << 20), ("pmem", 2 << 20)):
        with open(c[k], "wb") as f:
            f.truncate(size)
    return c


def pre_boot(a, spec, res, work):
    c = files(work, a)
    t = Truce(a.truce, work, "pre")
    try:
        for i, case in enumerate(cases.pre_cases(c)):
            run_case(t, spec, res, "pre", i, case)
        http_cases.run(t, res)
        r = t.request("GET", "/")
        res.report("pre-alive-after-bad-requests",
                   None if r.status == 200 else f"GET / answered {r.status}")
    finally:
        status = t.stop()
    res.report("pre-sigterm-exit-status", None if status == 16 else f"exit status {status}, "
               f"want 16 (TRUCE_EXIT_SIGNAL): {t.log()}")
    res.report("pre-socket-removed", "socket file left behind" if os.path.exists(t.sock)
               else None)


def coverage(spec, res):
    for method, tmpl in spec.operations():
        good, bad = res.coverage.get((method, tmpl), [0, 0])
        why = None if good >= 1 and bad >= 2 else f"{good} good and {bad} bad cases"
        res.report(f"coverage {method} {tmpl}", why)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--truce", required=True)
    p.add_argument("--spec", required=True)
    p.add_argument("--ticker", required=True, help="build/api/ticker.elf")
    p.add_argument("--pvh64", required=True, help="build/guests/pvh64.elf")
    a = p.parse_args()
    a.truce = os.path.abspath(a.truce)
    spec, res = Spec(a.spec), Results()
    with tempfile.TemporaryDirectory(prefix="truce-api-") as work:
        pre_boot(a, spec, res, work)
        if os.access("/dev/kvm", os.R_OK | os.W_OK):
            boot_cases.post_boot(a, spec, res, work, files(work, a), run_case)
            boot_cases.config_file(a, res, work)
            boot_cases.transport(a, res, work)
        else:
            res.report("post-boot", "cannot run: /dev/kvm is not usable here")
        boot_cases.flags(a, res, work)
        mmds_cases.limits(a, res, work)
    coverage(spec, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
