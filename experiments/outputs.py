"""Output files of a command: checked before any work starts, published all together or not at all.

A command that writes several files (``run --out X.parquet --plot P.png`` writes three)
first checks every location (:func:`check_output`: the right suffix, not a directory, a
folder this process can write, probed by creating and removing a hidden file), then
renders every file to a hidden temporary name beside its target and only then renames
them all into place (:func:`publish`). A failure at any point (full disk, read-only
folder, a rename refused halfway, Ctrl-C) removes the temporaries and puts back any file
already replaced, so every file that existed before is left as it was. A command that
writes a folder of files (``calibrate``, ``discover``, ``export``) checks the folder and
each file in it with :func:`check_folder`.

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

import errno
import os
import tempfile
from collections.abc import Callable, Iterable
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
    probe_replaceable(flag, path, p)
    return p


def probe_writable(flag: str, path: Any, folder: Path) -> None:
    """Create and remove a hidden file in ``folder``: the one sure test (root ignores modes, mounts may be read-only)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".cloudmarket-probe-", dir=folder)
    except OSError as err:
        raise OutputError(f"{flag} = {str(path)!r}: cannot write in {folder} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(name)


def check_folder(flag: str, path: str | Path | None, names: Iterable[str] = ()) -> Path | None:
    """The output folder of ``flag`` once it is known to be writable (None when not given).

    Refuses an empty path, a path that is a file, a parent that is a file and a folder
    this process cannot create files in; each of ``names`` (the files the command will
    write there) is checked as :func:`check_output` checks a file. Run before the work,
    so a bad place costs nothing and the message names the user's path.
    """
    if path is None:
        return None
    text = str(path)
    if text.strip() == "":
        raise OutputError(f"{flag} = {text!r}: give a folder name (an empty one would write into the current folder)")
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{flag} = {text!r}: is a file, not a folder")
    folder = p
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{flag} = {text!r}: {folder} is a file, not a folder")
    probe_writable(flag, text, folder)
    for name in names:
        target = p / name
        if target.is_dir():
            raise OutputError(f"{flag} = {text!r}: {target} is a directory where a file is written")
        if target.exists() and not target.is_file():
            raise OutputError(f"{flag} = {text!r}: {target} exists and is not a regular file")
        probe_replaceable(flag, text, target)
    return p


def probe_replaceable(flag: str, path: Any, target: Path) -> None:
    """Refuse an existing ``target`` that cannot be replaced (immutable, or another user's in a sticky folder).

    A hard link to it is made and removed: the kernel refuses one to an immutable file
    and (protected_hardlinks) to another user's file this process may not write, the
    cases where renaming a new file over it would fail after the work.
    """
    if not target.is_file():
        return
    probe = target.with_name(f".cloudmarket-probe-{os.getpid()}-{target.name}")
    try:
        os.link(target, probe)
    except OSError as err:
        if err.errno in (errno.EPERM, errno.EACCES):
            raise OutputError(f"{flag} = {str(path)!r}: {target} cannot be replaced "
                              f"({err.strerror or err}: an immutable file, or another user's)") from None
        return  # a file system without hard links: nothing learnt, publish still rolls back
    probe.unlink()


def publish(writes: list[tuple[Path, Callable[[Path], Any]]], remove: Iterable[Path] = ()) -> None:
    """Write every file to a hidden temporary beside its target, then swap them all in, or none.

    Nothing is renamed until every file is written. The old version of each target is
    kept (a hard link beside it) until every rename has succeeded; if one fails (a target
    that cannot be replaced, Ctrl-C) the files already renamed are put back, so either
    every target is new or every target is as it was. ``remove`` names stale outputs of
    an earlier run that this one does not write (removed on success, kept on failure).
    Errors name the target, never a temporary file.
    """
    temps: list[tuple[Path, Path]] = []
    created: list[Path] = []  # folders made for the outputs: removed again if nothing lands in them
    try:
        for path, write in writes:
            created += _make_folder(path.parent)
            tmp = _beside(path, "tmp")
            temps.append((tmp, path))
            try:
                write(tmp)
            except OSError as err:
                raise _naming(err, path) from None
        _swap(temps, [p for p in remove if p.is_file() and p not in {t for _, t in temps}])
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            try:
                folder.rmdir()  # only if empty: never anything that was there
            except OSError:
                pass
        raise
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir(exist_ok=True)
    return list(reversed(missing))


def _beside(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{what}")


def _naming(err: OSError, target: Path) -> OSError:
    """The same error, about ``target`` (the user's path) rather than a temporary beside it."""
    return OSError(err.errno, err.strerror or str(err), str(target))


def _swap(temps: list[tuple[Path, Path]], stale: list[Path]) -> None:
    """Rename every temporary onto its target and remove ``stale``; on any failure undo what was done."""
    kept: dict[Path, Path] = {}  # target -> its old version, beside it
    placed: list[Path] = []  # targets that now hold the new version
    try:
        for _, target in temps:
            if target.is_file():
                kept[target] = _keep(target)
        for target in stale:
            backup = _beside(target, "old")
            try:
                os.replace(target, backup)
            except OSError as err:
                raise _naming(err, target) from None
            kept[target] = backup
            placed.append(target)  # "placed" as removed: put back on failure
        for tmp, target in temps:
            try:
                os.replace(tmp, target)
            except OSError as err:
                raise _naming(err, target) from None
            placed.append(target)
    except BaseException:
        for target in placed:
            if target not in kept:
                target.unlink(missing_ok=True)  # a new file where there was none
        for target, backup in kept.items():
            try:
                if target in placed or not target.exists():
                    os.replace(backup, target)  # the old version back (replaced, removed, or moved aside)
                else:
                    backup.unlink()  # never replaced: the link is a second name of what is still there
            except OSError:
                pass  # keep undoing the rest; the backup stays beside its target
        raise
    for backup in kept.values():
        backup.unlink(missing_ok=True)


def _keep(target: Path) -> Path:
    """A second name for ``target``'s current content: a hard link (no copy, target untouched), else a move."""
    backup = _beside(target, "old")
    backup.unlink(missing_ok=True)
    try:
        os.link(target, backup)
    except OSError:
        try:
            os.replace(target, backup)  # no hard links here: the old version moves aside instead
        except OSError as err:
            raise _naming(err, target) from None
    return backup
