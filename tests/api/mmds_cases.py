"""mmds_cases.py — the MMDS endpoints: PUT/PATCH/GET /mmds, PUT /mmds/config (pre-boot, after
network-interfaces/eth0 exists), the store's size limit with Firecracker's error text, and the
--mmds-size-limit / --metadata flags."""
import json
import os

from apilib import Truce, raw_exchange

FULL = "The MMDS patch request doesn't fit."


def pre_cases():
    """Appended to cases.pre_cases (eth0 is configured by then)."""
    cfg = "/mmds/config"
    return [
        ("good", "GET", "/mmds", "/mmds", None, 200, None),
        ("bad", "GET", "/mmds", "/mmds", {"a": 1}, 400, "takes no body"),
        ("bad", "GET", "/mmds", "/mmds/", None, 400, "invalid request path"),
        ("bad", "PATCH", "/mmds", "/mmds", {"a": 1}, 400, "not initialized"),
        ("bad", "PUT", "/mmds", "/mmds", "{not json", 400, "invalid JSON"),
        ("bad", "PUT", "/mmds", "/mmds", None, 400, "JSON body is required"),
        ("good", "PUT", "/mmds", "/mmds", {"latest": {"meta-data": {"id": "i-1", "n": [1]}}},
         204, None),
        ("good", "PATCH", "/mmds", "/mmds", {"latest": {"meta-data": {"n": None, "k": "v"}}},
         204, None),
        ("bad", "PATCH", "/mmds", "/mmds", {"big": "x" * 51150}, 400, FULL),
        ("bad", "PATCH", "/mmds", "/mmds", "[1,", 400, "invalid JSON"),
        ("good", "PUT", cfg, cfg, {"network_interfaces": ["eth0"]}, 204, None),
        ("good", "PUT", cfg, cfg, {"network_interfaces": ["eth0"], "version": "V2",
                                   "ipv4_address": "169.254.170.2", "imds_compat": True}, 204,
         None),
        ("bad", "PUT", cfg, cfg, {"network_interfaces": ["eth7"]}, 400,
         "does not correspond to any existing network interface"),
        ("bad", "PUT", cfg, cfg, {"network_interfaces": []}, 400, "is empty"),
        ("bad", "PUT", cfg, cfg, {"version": "V1"}, 400, "network_interfaces: missing"),
        ("bad", "PUT", cfg, cfg, {"network_interfaces": ["eth0"], "version": "V3"}, 400,
         "version"),
        ("bad", "PUT", cfg, cfg, {"network_interfaces": ["eth0"], "ipv4_address": "10.0.0.1"},
         400, "not link local"),
        ("bad", "PUT", cfg, cfg, {"network_interfaces": ["eth0"], "ipv4_address": "1.2.3"},
         400, "not an IPv4 address"),
        ("bad", "PUT", cfg, cfg, {"network_interfaces": ["eth0"], "port": 80}, 400,
         "port: unknown field"),
        ("bad", "GET", cfg, cfg, None, 400, "invalid request method"),
    ]


def post_cases():
    """After InstanceStart: the store stays writable, the configuration does not."""
    cfg = "/mmds/config"
    return [
        ("bad", "PUT", cfg, cfg, {"network_interfaces": ["eth0"]}, 400,
         "after the microVM started"),
        ("good", "PUT", "/mmds", "/mmds", {"late": "yes"}, 204, None),
        ("good", "GET", "/mmds", "/mmds", None, 200, None),
    ]


def _report(res, name, ok, why):
    res.report(name, None if ok else why)


def limits(a, res, work):
    """A 1 MiB store: refused by the HTTP layer at the default payload limit, and with
    Firecracker's data-store error when the payload limit allows it but the MMDS limit does not;
    --metadata fills the store at start."""
    big = {"k": "x" * (1 << 20)}
    t = Truce(a.truce, work, "mmds-default")
    try:
        head = (b"PUT /mmds HTTP/1.1\r\nHost: x\r\nContent-Length: 1048586\r\n"
                b"Expect: 100-continue\r\n\r\n")  # curl's way with a large body
        rs = raw_exchange(t.sock, head)
        _report(res, "mmds 1 MiB refused at the default payload limit",
                len(rs) == 1 and rs[0].status == 413 and "51200" in rs[0].fault(),
                f"{[(r.status, r.body[:100]) for r in rs]}")
        r = t.request("GET", "/mmds")
        _report(res, "mmds store untouched by the refused PUT",
                r.status == 200 and r.json() == {}, f"{r.status} {r.body[:200]}")
    finally:
        t.stop()
    meta = os.path.join(work, "meta.json")
    with open(meta, "w") as f:
        json.dump({"latest": {"meta-data": {"id": "from-file"}}}, f)
    t = Truce(a.truce, work, "mmds-limit", ["--http-api-max-payload-size", str(4 << 20),
                                             "--mmds-size-limit", str(512 << 10),
                                             "--metadata", meta])
    try:
        r = t.request("GET", "/mmds")
        _report(res, "mmds --metadata fills the store",
                r.status == 200 and r.json() == {"latest": {"meta-data": {"id": "from-file"}}},
                f"{r.status} {r.body[:200]}")
        r = t.request("PUT", "/mmds", big)
        _report(res, "mmds 1 MiB PUT refused by --mmds-size-limit",
                r.status == 400 and r.fault() == FULL, f"{r.status} {r.body[:200]}")
        r = t.request("PATCH", "/mmds", big)
        _report(res, "mmds 1 MiB PATCH refused by --mmds-size-limit",
                r.status == 400 and r.fault() == FULL, f"{r.status} {r.body[:200]}")
        r = t.request("PUT", "/mmds", {"k": "x" * (400 << 10)})
        _report(res, "mmds 400 KiB fits --mmds-size-limit 512 KiB", r.status == 204,
                f"{r.status} {r.body[:200]}")
        path = os.path.join(work, "mmds-metrics.json")
        open(path, "w").close()
        t.request("PUT", "/metrics", {"metrics_path": path})
        r = t.request("PUT", "/actions", {"action_type": "FlushMetrics"})
        with open(path) as f:
            line = json.loads(f.read().splitlines()[-1])
        mm = line.get("mmds", {})
        _report(res, "mmds metrics: Firecracker's counters in the line",
                r.status == 204 and all(k in mm for k in (
                    "rx_accepted", "rx_count", "rx_no_token", "rx_invalid_token", "tx_frames",
                    "tx_bytes", "connections_created", "connections_destroyed")),
                f"{r.status} {line}")
    finally:
        t.stop()
