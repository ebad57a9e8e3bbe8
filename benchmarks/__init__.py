"""pyload's benchmark scripts: the Django server-stack matrix and pyload's own speed.

    python -m benchmarks                 the matrix (profile quick, about 5 minutes on 2 cores)
    python -m benchmarks --profile seed  the published experiment: 2000 connections, 22 s cells
    python -m benchmarks.selfbench       pyload vs wrk (and locust) against one local nginx
    python -m benchmarks.selfbench --http2   pyload --http2 vs h2load, nginx over h2c
    python -m benchmarks.hookbench       what a -s request() hook costs, pyload vs wrk's Lua
    python -m benchmarks.daskbench       one process set vs --dask local:2, the same load
    python -m benchmarks.reliability     2000 and 10,000 connections, memory; a 10-minute soak
    python -m benchmarks.h2codec         HTTP/2 client codecs: CPU per response, h2, jh2, pyload's

Modules, in the order the data flows: profiles (the parameters), plan (the cells), matrix
(runs stacks and rounds of cells, assembles the document), stacks (a stack's life cycle), cells
(one run of one cell), clients (runs wrk, pyload's CLI and locust as measured processes),
wrkparse (wrk's text to numbers), compare (pyload vs wrk tolerance), results (the results
document as dataclasses, written and read in one place), interpret (sentences from the data),
formatting, report, report_html and charts (the output files: report.md, report.html, the
PNGs), machine (what the run ran on), progress (stderr lines), cli (the matrix's command line),
nginx, watch, selfbench and selfbench_report (pyload's own speed), selfbench_h2 and h2loadparse
(the same over HTTP/2, beside h2load). Shared by every script: common (progress lines, medians,
the client and server CPUs, the children's environment, dated output files) and stopping (a
signal ends a script within a bound, leaving no process behind).

pyload is used through its public API only (``import pyload`` and its public modules), as
tests/test_benchmarks.py checks; h2codec alone times a private module, the HTTP/2 codec, which
no public API reaches yet (docs/http2.md).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.stopping import sigterm_as_ctrl_c

__all__ = ["PROJECT_ROOT", "RESULTS_DIR", "sigterm_as_ctrl_c"]

#: The repository root: put on the PYTHONPATH of the client processes the scripts start.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Where runs are written unless --out says otherwise (gitignored, but for one reference run).
RESULTS_DIR = Path(__file__).resolve().parent / "results"
