"""Output files of a command: checked before any work starts, published all together or not at all.

A command that writes several files (``run --out X.parquet --plot P.png`` writes three)
first checks every location (:func:`check_output`: the right suffix, not a directory, a
folder this process can write, probed by creating and removing a hidden file), then
renders every file to a hidden temporary name beside its target and only then renames
them all into place (:func:`publish`). A failure at any point (full disk, read-only
folder) removes the temporaries, so every file that existed before is left as it was.

Example
-------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> a, b = check_output("--a", str(folder / "a.txt"), ".txt"), check_output("--b", str(folder / "b.txt"), ".txt")
>>> publish([(a, lambda p: p.write_text("A")), (b, lambda p: p.write_text("B"))])
>>> sorted(p.name for p in folder.iterdir())
['a.txt', 'b.txt']
>>> def fails(p):
...     raise OSError(28, "No space left on device", str(p))
>>> publish([(a, lambda p: p.write_text("new")), (b, fails)])
Traceback (most recent call last):
...
OSError: [Errno 28] No space left on device: ...
>>> a.read_text(), sorted(p.name for p in folder.iterdir())   # a.txt untouched, no temporaries left
('A', ['a.txt', 'b.txt'])
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class OutputError(ValueError):
    """An output location that cannot be written: names the flag, the path and why."""


def check_output(flag: str, path: str | None, suffix: str | None = None) -> Path | None:
    """The output path of ``flag`` once it is known to be writable (None when not given).

    Refuses a wrong suffix, a path that is a directory, a parent that is a file, and a
    folder this process cannot create files in.
    """
    if path is None:
        return None
    p = Path(path)
    if path == "" or p.name == "":
        raise OutputError(f"{flag} = {path!r}: give a file name")
    if suffix is not None and p.suffix != suffix:
        raise OutputError(f"{flag} = {path!r}: must end in {suffix}")
    if p.is_dir():
        raise OutputError(f"{flag} = {path!r}: is a directory")
    if p.exists() and not p.is_file():
        raise OutputError(f"{flag} = {path!r}: exists and is not a regular file")
    folder = p.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{flag} = {path!r}: {folder} is a file, not a folder")
    probe_writable(flag, path, folder)
    return p


def probe_writable(flag: str, path: Any, folder: Path) -> None:
    """Create and remove a hidden file in ``folder``: the one sure test (root ignores modes, mounts may be read-only)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".cloudmarket-probe-", dir=folder)
    except OSError as err:
        raise OutputError(f"{flag} = {str(path)!r}: cannot write in {folder} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(name)


def publish(writes: list[tuple[Path, Callable[[Path], Any]]]) -> None:
    """Write every file to a hidden temporary beside its target, then rename them all into place.

    Nothing is renamed until every file is written, so a failure leaves every target as
    it was; the temporaries are removed either way.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, write in writes:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temps.append((tmp, path))
            write(tmp)
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
