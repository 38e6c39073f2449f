"""balloon_cases.py — the /balloon endpoints: before InstanceStart (no balloon, then one), and on
the ticker guest, whose balloon has no driver (Firecracker's "Device not activated yet.")."""

NONE = "No balloon device found."
INACTIVE = "Device not activated yet."


def pre():
    """Before InstanceStart; machine-config has 128 MiB by then."""
    good = {"amount_mib": 16, "deflate_on_oom": True, "stats_polling_interval_s": 1,
            "free_page_hinting": True, "free_page_reporting": True}
    return [
        ("bad", "GET", "/balloon", "/balloon", None, 400, NONE),
        ("bad", "PATCH", "/balloon", "/balloon", {"amount_mib": 8}, 400, NONE),
        ("bad", "PATCH", "/balloon/statistics", "/balloon/statistics",
         {"stats_polling_interval_s": 2}, 400, NONE),
        ("bad", "PUT", "/balloon", "/balloon", {"amount_mib": 16}, 400,
         "deflate_on_oom: missing"),
        ("bad", "PUT", "/balloon", "/balloon", {"amount_mib": 129, "deflate_on_oom": False}, 400,
         "amount_mib: Amount of pages requested is too large"),
        ("bad", "PUT", "/balloon", "/balloon", dict(good, must_tell_host=True), 400,
         "must_tell_host: unknown field"),
        ("bad", "PUT", "/balloon", "/balloon", dict(good, stats_polling_interval_s=70000), 400,
         "stats_polling_interval_s"),
        ("bad", "PUT", "/balloon", "/balloon", dict(good, amount_mib=-1), 400, "amount_mib"),
        ("good", "PUT", "/balloon", "/balloon", good, 204, None),
        ("good", "GET", "/balloon", "/balloon", None, 200, None),
        ("bad", "GET", "/balloon", "/balloon", {"amount_mib": 1}, 400, "takes no body"),
        ("good", "PATCH", "/balloon", "/balloon", {"amount_mib": 8}, 204, None),
        ("bad", "PATCH", "/balloon", "/balloon", {"amount_mib": 8, "deflate_on_oom": True}, 400,
         "deflate_on_oom: unknown field"),
        ("bad", "PATCH", "/balloon", "/balloon", {}, 400, "amount_mib: missing"),
        ("good", "PATCH", "/balloon/statistics", "/balloon/statistics",
         {"stats_polling_interval_s": 2}, 204, None),
        ("bad", "PATCH", "/balloon/statistics", "/balloon/statistics", {}, 400,
         "stats_polling_interval_s: missing"),
        ("bad", "GET", "/balloon/statistics", "/balloon/statistics", None, 400, "not started"),
        ("bad", "PATCH", "/balloon/hinting/start", "/balloon/hinting/start", None, 400,
         "not started"),
        ("bad", "GET", "/balloon/hinting/status", "/balloon/hinting/status", None, 400,
         "not started"),
        ("bad", "PATCH", "/balloon/hinting/stop", "/balloon/hinting/stop", None, 400,
         "not started"),
    ]


def ticker_setup():
    """The balloon of the ticker guest (put before its InstanceStart)."""
    return ("good", "PUT", "/balloon", "/balloon",
            {"amount_mib": 4, "deflate_on_oom": False, "stats_polling_interval_s": 5,
             "free_page_hinting": True}, 204, None)


def post():
    """After InstanceStart of the ticker guest, which never starts a balloon driver."""
    return [
        ("bad", "PUT", "/balloon", "/balloon", {"amount_mib": 1, "deflate_on_oom": False}, 400,
         "after the microVM started"),
        ("good", "GET", "/balloon", "/balloon", None, 200, None),
        ("good", "PATCH", "/balloon", "/balloon", {"amount_mib": 8}, 400, INACTIVE),
        ("bad", "PATCH", "/balloon", "/balloon", {"amount_mib": 65}, 400,
         "more than the guest's memory"),
        ("good", "GET", "/balloon/statistics", "/balloon/statistics", None, 200, None),
        ("bad", "GET", "/balloon/statistics", "/balloon/statistics", "{}", 400, "takes no body"),
        ("bad", "GET", "/balloon/statistics", "/balloon/statistics/", None, 400,
         "invalid request path"),
        ("good", "PATCH", "/balloon/statistics", "/balloon/statistics",
         {"stats_polling_interval_s": 10}, 204, None),
        ("bad", "PATCH", "/balloon/statistics", "/balloon/statistics",
         {"stats_polling_interval_s": 0}, 400, "cannot be enabled/disabled"),
        ("good", "PATCH", "/balloon/hinting/start", "/balloon/hinting/start",
         {"acknowledge_on_stop": False}, 400, INACTIVE),
        ("bad", "PATCH", "/balloon/hinting/start", "/balloon/hinting/start",
         {"acknowledge_on_stop": 1}, 400, "acknowledge_on_stop"),
        ("good", "GET", "/balloon/hinting/status", "/balloon/hinting/status", None, 200, None),
        ("bad", "GET", "/balloon/hinting/status", "/balloon/hinting/status", "{}", 400,
         "takes no body"),
        ("good", "PATCH", "/balloon/hinting/stop", "/balloon/hinting/stop", None, 400, INACTIVE),
        ("bad", "PUT", "/balloon/hinting/stop", "/balloon/hinting/stop", None, 400,
         "invalid request method"),
        ("bad", "PATCH", "/balloon/hinting/stop", "/balloon/hinting/stop", "{not json", 400,
         "invalid JSON body"),
    ]
