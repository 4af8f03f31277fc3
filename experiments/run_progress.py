"""Progress of one long run on stderr: the build phases, then the quarters.

Shown when stderr is a terminal (one line, rewritten in place) or, for a large run, as
plain lines on stderr so that a log shows where a long run is; never on stdout, so
piped output stays the summary alone. Small runs in a pipe print nothing.

Example
-------
>>> import io
>>> log = io.StringIO()
>>> report = run_progress(n_customers=500_000, steps=2, stream=log)
>>> for phase in ("drawing customers", "quarter 1/2", "quarter 2/2"):
...     report(phase)
>>> report.close()
>>> print(log.getvalue().replace("\\r", ""), end="")    # doctest: +ELLIPSIS
[...s] building the market: drawing customers
[...s] quarter 1/2
[...s] quarter 2/2
>>> run_progress(n_customers=200, steps=8, stream=io.StringIO()) is None   # small, not a terminal
True
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LARGE_CUSTOMERS = 200_000


class RunProgress:
    """Callable given to ``simulate(..., progress=)``: writes each phase with the elapsed time."""

    def __init__(self, stream: TextIO, terminal: bool):
        self.stream, self.terminal = stream, terminal
        self.start = time.monotonic()
        self.width = 0

    def __call__(self, phase: str) -> None:
        text = phase if phase.startswith("quarter") else f"building the market: {phase}"
        line = f"[{time.monotonic() - self.start:5.1f}s] {text}"
        if self.terminal:  # one line, rewritten in place
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the progress line (a terminal's line is cleared, so the summary starts clean)."""
        if self.terminal and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def run_progress(n_customers: int, steps: int, stream: TextIO | None = None) -> RunProgress | None:
    """A progress reporter for one run, or None when it would only be noise.

    On a terminal every run reports; elsewhere only runs of at least LARGE_CUSTOMERS customers.
    """
    stream = sys.stderr if stream is None else stream
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal and n_customers < LARGE_CUSTOMERS:
        return None
    return RunProgress(stream, terminal)
