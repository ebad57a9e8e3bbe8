"""``python -m pyload`` and the ``pyload`` command: the command line's entry point.

Spawned worker processes import this module again (as ``__mp_main__``); it imports nothing of
pyload at the top, so they do not load the CLI and its numpy-backed report code.

Stop signals (docs/reliability.md): from here on SIGINT, SIGTERM and SIGHUP (unless started
ignored, as under ``nohup``) end the command. The first raises KeyboardInterrupt wherever
setup is (reading a FIFO, resolving, probing, starting the processes: each such wait is
interruptible), which ends it with exit status 130 and one line; during the load the local
executor takes the signals over (the run stops and its report is printed). A second signal
outside the load ends the process at once: its worker processes killed, exit 130.
"""

import os
import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# numpy's OpenBLAS starts a thread per CPU when numpy is imported (after the load, for the
# report): about 50 ms of CPU on a 2-core machine, for nothing, as pyload's numpy does no
# linear algebra. The command owns its process, so it asks for one thread; a library caller's
# process is its own (pyload.run() sets nothing).
OPENBLAS_THREADS = ("OPENBLAS_NUM_THREADS", "1")


def run() -> int:
    os.environ.setdefault(*OPENBLAS_THREADS)  # unless the caller chose (README, "Speed")
    _stop_on_signals()
    try:
        from pyload._cli import main

        return main()
    except KeyboardInterrupt:  # a stop signal before the load started (_cli handles the rest)
        print("interrupted before the load started", file=sys.stderr)
        return EXIT_INTERRUPTED


def _stop_on_signals() -> None:
    """The first stop signal: KeyboardInterrupt; the next: the end, at once."""
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt
        local = sys.modules.get("pyload._local")  # only if it started worker processes
        if local is not None:
            local.kill_started_processes()
        os.write(2, b"interrupted\n")
        os._exit(EXIT_INTERRUPTED)

    for signum in STOP_SIGNALS:
        if signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup: a hangup is not a stop request
        signal.signal(signum, on_signal)


if __name__ == "__main__":
    raise SystemExit(run())
