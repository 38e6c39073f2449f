"""boot_cases.py — cases that boot a guest: the post-boot API (pause/resume, metrics, drive swap,
Ctrl-Alt-Del ending the VM with its status), --config-file, and the top-level flags."""
import json
import os
import subprocess
import time

import balloon_cases
import cases
from apilib import Truce

TICKER_CTRL_ALT_DEL_STATUS = 97  # ticker.c: debug_exit(0x30) -> (0x30 << 1) | 1


def lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


def wait_for(pred, timeout):
    """Poll PRED until it holds or TIMEOUT seconds pass (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def start_ticker(t, c, res, run_case, spec):
    setup = [
        ("good", "PUT", "/boot-source", "/boot-source", {"kernel_image_path": c["kernel"]}, 204,
         None),
        ("good", "PUT", "/serial", "/serial", {"serial_out_path": c["serial"]}, 204, None),
        ("good", "PUT", "/machine-config", "/machine-config",
         {"vcpu_count": 1, "mem_size_mib": 64}, 204, None),
        ("good", "PUT", "/drives/{drive_id}", "/drives/data",
         {"drive_id": "data", "path_on_host": c["disk"], "is_root_device": False}, 204, None),
        balloon_cases.ticker_setup(),
        ("good", "PUT", "/actions", "/actions", {"action_type": "InstanceStart"}, 204, None),
    ]
    for i, case in enumerate(setup):
        run_case(t, spec, res, "boot", i, case)
    ok = wait_for(lambda: lines(c["serial"]) >= 3, 30)
    res.report("boot-ticker-runs", None if ok else f"no ticks on the serial port: {t.log()}")
    return ok


def pause_resume(t, c, res):
    r = t.request("PATCH", "/vm", {"state": "Paused"})
    res.count("good", "PATCH", "/vm")
    st = t.request("GET", "/").json().get("state")
    before = lines(c["serial"])
    time.sleep(1.0)
    frozen = lines(c["serial"]) == before
    again = t.request("PATCH", "/vm", {"state": "Paused"}).status
    why = None
    if r.status != 204 or st != "Paused" or again != 204:
        why = f"PATCH {r.status} {r.body}, state {st}, repeat {again}"
    elif not frozen:
        why = f"the guest kept printing while paused ({before} -> {lines(c['serial'])} lines)"
    res.report("post-pause-freezes-guest", why)
    r = t.request("PATCH", "/vm", {"state": "Resumed"})
    grows = wait_for(lambda: lines(c["serial"]) > before + 2, 20)
    st = t.request("GET", "/").json().get("state")
    why = None if r.status == 204 and grows and st == "Running" else \
        f"PATCH {r.status}, state {st}, serial grew: {grows}"
    res.report("post-resume-continues", why)


def metrics_line(c, res):
    try:
        with open(c["metrics2"]) as f:
            last = json.loads(f.read().splitlines()[-1])["truce_cumulative"]
        io = last["vcpu"]["exits"].get("io", 0)
        io_us = last["vcpu"].get("exits_us", {}).get("io", -1)
        reqs = last["api_server"]["requests"]
        blk = last["devices"]["block"].get("data", {})
        why = None if io > 0 and io_us >= 0 and reqs > 0 and "read_count" in blk and \
            "rate_limiter_throttled_events" in blk else \
            f"io exits {io} ({io_us} µs), api requests {reqs}, block 'data' {blk}"
    except Exception as e:
        why = f"{type(e).__name__}: {e}"
    res.report("post-metrics-line", why)


def post_boot(a, spec, res, work, c, run_case):
    c["metrics2"] = os.path.join(work, "metrics2.json")
    t = Truce(a.truce, work, "post", ["--metrics-path", c["metrics2"], "--level", "Info"])
    try:
        if not start_ticker(t, c, res, run_case, spec):
            return
        for i, case in enumerate(cases.post_cases(c)):
            run_case(t, spec, res, "post", i, case)
        vmc = t.request("GET", "/vm/config").json()
        swapped = [d["path_on_host"] for d in vmc.get("drives", []) if d["drive_id"] == "data"]
        res.report("post-swap-shows-in-vm-config",
                   None if swapped == [c["disk2"]] else f"drive 'data' is {swapped}")
        # PATCHed live: the bandwidth bucket set, then the ops bucket alone removed
        rl = [d.get("rate_limiter") for d in vmc.get("drives", []) if d["drive_id"] == "data"]
        want = {"bandwidth": {"size": 1048576, "one_time_burst": 0, "refill_time": 100}}
        res.report("post-rate-limiter-patch-shows-in-vm-config",
                   None if rl == [want] else f"drive 'data' rate_limiter {rl}, want {want}")
        pause_resume(t, c, res)
        metrics_line(c, res)
        before = lines(c["serial"])
        alive = t.request("GET", "/").json().get("state") == "Running" and \
            wait_for(lambda: lines(c["serial"]) > before, 20)
        res.report("post-vm-runs-after-bad-requests", None if alive else "the guest stopped")
        r = t.request("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        res.count("good", "PUT", "/actions")
        status = t.wait(60)
        with open(c["serial"], errors="replace") as f:
            seen = "ticker: ctrl-alt-del" in f.read()
        why = None
        if r.status != 204:
            why = f"SendCtrlAltDel answered {r.status} {r.body}"
        elif not seen or status != TICKER_CTRL_ALT_DEL_STATUS:
            why = f"guest saw it: {seen}, exit status {status}, want " \
                  f"{TICKER_CTRL_ALT_DEL_STATUS}: {t.log()}"
        res.report("post-ctrl-alt-del-ends-vm-with-its-status", why)
        res.report("post-socket-removed", "socket left" if os.path.exists(t.sock) else None)
    finally:
        t.stop()


def run_truce(a, args, timeout=60):
    p = subprocess.run([a.truce, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr


def config_file(a, res, work):
    serial = os.path.join(work, "cfg-serial.log")
    cfg = {"boot-source": {"kernel_image_path": a.pvh64, "boot_args": "hello cfg"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
           "serial": {"serial_out_path": serial}}
    path = os.path.join(work, "vm.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    st, err = run_truce(a, ["--config-file", path, "--no-api"])
    ref, _ = run_truce(a, ["run", "--kernel", a.pvh64, "--cmdline", "hello cfg", "--memory",
                           "64M", "--console", "file:" + serial + ".ref"])
    with open(serial, errors="replace") as f:
        out = f.read()
    why = None if st == ref and "cmdline 'hello cfg'" in out else \
        f"exit status {st} (truce run: {ref}), serial {out[-200:]!r}, stderr {err[-200:]!r}"
    res.report("config-file-boots-like-run", why)

    cfg["drives"] = [{"drive_id": "d0", "path_on_host": "/nonexistent.img",
                      "is_root_device": True}]
    with open(path, "w") as f:
        json.dump(cfg, f)
    st, err = run_truce(a, ["--config-file", path, "--no-api"])
    one = err.strip().splitlines()
    why = None if st == 2 and len(one) == 1 and "drives[0].path_on_host" in one[0] else \
        f"exit status {st}, stderr {err!r}"
    res.report("config-file-error-names-json-path", why)


def transport(a, res, work):
    """Driven by a config file, virtio devices are on virtio-mmio as Firecracker's (the log at
    Info names each window and IRQ; the guest's command line gets virtio_mmio.device=);
    --enable-pci puts them on PCI."""
    serial = os.path.join(work, "tr-serial.log")
    cfg = {"boot-source": {"kernel_image_path": a.pvh64, "boot_args": "tr"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
           "entropy": {"rate_limiter": {"ops": {"size": 100, "refill_time": 1000}}},
           "serial": {"serial_out_path": serial}}
    path = os.path.join(work, "tr.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    for name, extra, want_mmio in [("default-mmio", [], True),
                                   ("enable-pci", ["--enable-pci"], False)]:
        if os.path.exists(serial):
            os.remove(serial)
        st, err = run_truce(a, ["--config-file", path, "--no-api", "--level", "Info", *extra])
        with open(serial, errors="replace") as f:
            out = f.read()
        log_mmio = "virtio-rng: virtio-mmio at 0xc0001000, IRQ 5" in err
        cmd_mmio = "virtio_mmio.device=4K@0xc0001000:5" in out
        ok = "cmdline 'tr" in out and log_mmio == want_mmio and cmd_mmio == want_mmio
        res.report(f"transport {name}", None if ok else
                   f"exit status {st}, mmio in log {log_mmio}, in cmdline {cmd_mmio}, "
                   f"serial {out[-200:]!r}, stderr {err[-300:]!r}")


def flags(a, res, work):
    sock = os.path.join(work, "flags.sock")
    open(sock, "w").close()  # an existing path: bind must fail
    for name, args, needle in [
        ("no-api-alone", ["--no-api"], "--no-api"),
        ("no-api-with-sock", ["--no-api", "--api-sock", sock + "2"], "--no-api"),
        ("sock-exists", ["--api-sock", sock], "cannot bind"),
        ("unknown-flag", ["--api-sock", sock + "3", "--bogus"], "--bogus"),
        ("bad-payload-size", ["--api-sock", sock + "4", "--http-api-max-payload-size", "x"],
         "--http-api-max-payload-size"),
        ("config-file-missing", ["--config-file", "/nonexistent.json"], "/nonexistent.json"),
    ]:
        st, err = run_truce(a, args, timeout=20)
        lines_ = err.strip().splitlines()
        ok = st == 2 and len(lines_) == 1 and needle in lines_[0]
        res.report(f"flags {name}", None if ok else f"exit status {st}, stderr {err!r}")
