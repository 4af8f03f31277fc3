"""Refuse to start worker processes from a script that would run again in each of them.

A process pool whose workers are started fresh (forkserver or spawn, and Dask's local
cluster) imports the parent's main script in every worker. A script that calls
``cloudmarket.sweep(...)`` at its top level, without ``if __name__ == "__main__":``,
then starts the sweep again in each worker: they die, every run fails with
``BrokenProcessPool`` and the script goes on as if nothing happened. Whether the pool
forks instead depends on how many threads the process happens to run, so the rule is
applied whatever the start method: before any run starts, :func:`check_main_guard`
reads the main script and raises :class:`MainGuardError` saying what to add.

Interactive sessions, notebooks and ``python -c`` have no script to re-run and pass.

Example
-------
>>> import ast
>>> has_main_guard(ast.parse('if __name__ == "__main__":\\n    run()\\n'))
True
>>> has_main_guard(ast.parse("import cloudmarket\\ncloudmarket.sweep(spec, 'out')\\n"))
False
"""

from __future__ import annotations

import ast
import sys


class MainGuardError(RuntimeError):
    """A script without ``if __name__ == "__main__":`` asked for worker processes."""


def has_main_guard(tree: ast.Module) -> bool:
    """True when the module has a top-level ``if __name__ == "__main__":`` (either order)."""
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1 \
                and isinstance(node.test.ops[0], ast.Eq):
            sides = [node.test.left, node.test.comparators[0]]
            names = {s.id for s in sides if isinstance(s, ast.Name)}
            texts = {s.value for s in sides if isinstance(s, ast.Constant)}
            if names == {"__name__"} and texts == {"__main__"}:
                return True
    return False


def check_main_guard(what: str = "cloudmarket.sweep") -> None:
    """Raise MainGuardError if the main script has no ``__main__`` guard (see the module doc)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__name__", "") != "__main__":
        return  # interactive, a notebook, python -c; or already inside a worker
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return  # not readable Python (a frozen app, a zipapp): nothing to judge
    if has_main_guard(tree):
        return
    raise MainGuardError(
        f"{path} runs {what}(...) with worker processes, which import this script again; without a guard "
        f"each worker would start the sweep anew and every run would fail. Put the script's work under\n"
        f"    if __name__ == \"__main__\":\n"
        f"(indented below it), or pass backend=\"serial\" to run in this process. Nothing was run.")
