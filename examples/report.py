"""Write the latency percentiles and the counters to a CSV file in ``done`` (wrk's
scripts/report.lua, as a file).

    pyload -s examples/report.py http://127.0.0.1:8080/ results.csv

The file is the first argument after the URL (default ``pyload-report.csv``). ``done`` runs in
the parent once the report is printed; ``latency`` is in microseconds, as wrk's.
"""

import csv
from typing import Any

from pyload.hooks import Stats, Thread

PERCENTILES = (50, 75, 90, 99, 99.9, 99.99)
csv_path = "pyload-report.csv"


def setup(thread: Thread) -> None:
    global csv_path
    if thread.args:  # setup() sees the arguments too (pyload's addition: thread.args)
        csv_path = thread.args[0]


def done(summary: dict[str, Any], latency: Stats, requests: Stats) -> None:
    with open(csv_path, "w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["metric", "value"])
        out.writerow(["duration_us", summary["duration"]])
        out.writerow(["requests", summary["requests"]])
        out.writerow(["bytes", summary["bytes"]])
        for name, count in summary["errors"].items():
            out.writerow([f"errors_{name}", count])
        out.writerow(["latency_mean_us", f"{latency.mean:.2f}"])
        out.writerow(["latency_max_us", latency.max])
        for p in PERCENTILES:
            out.writerow([f"latency_p{p:g}_us", latency.percentile(p)])
        out.writerow(["req_per_s_mean", f"{requests.mean:.2f}"])
    print(f"wrote {csv_path}")
