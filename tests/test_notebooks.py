"""Execute every analysis notebook top to bottom on small settings, with papermill; fail on any error.

Each notebook's first code cell is tagged ``parameters``; papermill inserts a cell after it
that overrides those names with small settings (``SMALL`` below), exactly as
``papermill notebooks/NAME.ipynb out.ipynb -p NAME VALUE`` does from the command line, so
the tests stay fast while the committed defaults are the full settings. The kernel is
this project's venv Python, from a kernelspec written to a temporary folder (``ipykernel
install --prefix``), so a ``python3`` kernel elsewhere on the machine can never be picked
up; the kernel's working directory is ``notebooks/``. Every figure must carry alt text,
and a notebook that runs a sweep or steps a model must show a progress bar.

Also a script, used by ``make notebooks``::

    .venv/bin/python tests/test_notebooks.py --html notebooks/out [--small] [--fig-dir DIR] [NAME ...]

runs the notebooks at their own (full) settings and writes HTML copies with figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
KERNEL_NAME = "cloudmarket-venv"
CELL_TIMEOUT = 1800  # seconds per cell; full settings in `make notebooks` need minutes

# Small but real settings: every notebook still builds its sweep and draws every figure.
# OUT_DIR/FIG_DIR are filled in per run (a temporary folder, artifacts/notebooks/).
SMALL: dict[str, dict] = {
    "01_single_run": {"N_CUSTOMERS": 400, "STEPS": 8, "GRAPH_SAMPLE": 120},
    "02_policy_sweep": {"N_CUSTOMERS": 300, "STEPS": 6, "REPLICATIONS": 3,
                        "SEVERITIES": [0.0, 0.5, 1.0], "SWITCHING_COSTS": [1.0, 3.0], "WORKERS": 2},
    "03_sensitivity": {"N_CUSTOMERS": 200, "STEPS": 6, "SAMPLES": 16, "REPLICATIONS": 1, "WORKERS": 2},
    "04_scenario_discovery": {"N_CUSTOMERS": 200, "STEPS": 6, "SAMPLES": 48, "WORKERS": 2},
}
WIDGET = "application/vnd.jupyter.widget-view+json"  # how tqdm.auto draws its bar in Jupyter


def venv_python() -> Path:
    """The project's venv interpreter (falls back to the one running this file)."""
    for name in ("python", "python3"):
        candidate = ROOT / ".venv" / "bin" / name
        if candidate.exists():
            return candidate
    return Path(sys.executable)


def install_kernelspec(prefix: Path) -> Path:
    """Write a kernelspec for the venv Python under ``prefix``; return its kernels folder."""
    subprocess.run(
        [str(venv_python()), "-m", "ipykernel", "install", "--prefix", str(prefix),
         "--name", KERNEL_NAME, "--display-name", "Python (cloudmarket .venv)"],
        check=True, capture_output=True, text=True,
    )
    kernels = prefix / "share" / "jupyter" / "kernels"
    spec = json.loads((kernels / KERNEL_NAME / "kernel.json").read_text())
    assert Path(spec["argv"][0]).resolve() == venv_python().resolve(), spec["argv"]
    return kernels


def parameters_index(nb) -> int:
    """Index of the cell tagged ``parameters`` (there must be exactly one)."""
    found = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(found) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(found)}")
    return found[0]


def execute(path: Path, overrides: dict, kernels_dir: Path, output: Path | None = None):
    """Run notebook ``path`` with papermill, ``overrides`` as its parameters, in the venv kernel.

    Returns the executed notebook (also written to ``output`` when given).
    """
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name=KERNEL_NAME,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels_dir)]))
    return papermill.execute_notebook(str(path), str(output) if output else None, parameters=overrides,
                                      kernel_name=KERNEL_NAME, km=km, cwd=str(path.parent),
                                      progress_bar=False, timeout=CELL_TIMEOUT)


def images(nb) -> list[dict]:
    """Every PNG output of an executed notebook: its base64 data and its metadata."""
    return [{"data": o["data"]["image/png"], "metadata": o.get("metadata", {}).get("image/png", {})}
            for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]


def write_html(nb, dest: Path) -> None:
    """HTML copy of an executed notebook, figures embedded, each image with its alt text."""
    import html

    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    # nbconvert's template drops an image's alt text: put it back on each <img>
    for image in images(nb):
        alt = image["metadata"].get("alt")
        if alt:
            src = f'src="data:image/png;base64,{image["data"].strip()}"'
            body = body.replace(src, f'alt="{html.escape(alt)}" {src}')
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")


def has_outputs(nb) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


# ---------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def kernels_dir(tmp_path_factory) -> Path:
    return install_kernelspec(tmp_path_factory.mktemp("kernelspec"))


def test_notebooks_are_present():
    assert {p.stem for p in NOTEBOOKS} == set(SMALL), "every notebook needs small settings in SMALL, and only those"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert not has_outputs(nb), f"{path.name}: strip outputs before committing (cells {has_outputs(nb)})"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", []), "first code cell must be tagged 'parameters'"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, kernels_dir, tmp_path, artifacts_dir):
    figures = artifacts_dir / "notebooks" / path.stem
    overrides = {**SMALL[path.stem], "OUT_DIR": str(tmp_path / "results"), "FIG_DIR": str(figures)}
    nb = nbformat.read(path, as_version=4)
    names = set()
    for line in nb.cells[parameters_index(nb)].source.splitlines():
        if "=" in line and not line.startswith((" ", "#")):
            names.add(line.split("=", 1)[0].strip())
    overrides = {k: v for k, v in overrides.items() if k in names}
    assert set(SMALL[path.stem]) <= names, f"SMALL names not in the parameters cell: {set(SMALL[path.stem]) - names}"
    executed = execute(path, overrides, kernels_dir, tmp_path / path.name)  # raises on any cell error
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # papermill put the small settings in, after the parameters cell
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and all(f"{k} = " in injected[0].source for k in overrides)
    pngs = images(executed)
    assert pngs, "notebook drew no figure"
    no_alt = [i for i, image in enumerate(pngs) if len(image["metadata"].get("alt", "")) < 30]
    assert not no_alt, f"figures {no_alt} carry no alt text"
    bars = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if WIDGET in o.get("data", {})]
    assert bars, "no tqdm.auto progress bar shown"
    write_html(executed, artifacts_dir / "notebooks" / f"{path.stem}.html")
    html_text = (artifacts_dir / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
    assert html_text.count('alt="') >= len(pngs)


# ---------------------------------------------------------------------- script
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the analysis notebooks and write HTML copies.")
    parser.add_argument("names", nargs="*", help="notebook names (default: all)")
    parser.add_argument("--html", default=str(NOTEBOOK_DIR / "out"), help="folder for the HTML copies")
    parser.add_argument("--small", action="store_true", help="use the test settings instead of the defaults")
    parser.add_argument("--fig-dir", help="also save every figure as PNG under FIG_DIR/NAME/")
    args = parser.parse_args(argv)
    chosen = [p for p in NOTEBOOKS if not args.names or p.stem in args.names or p.name in args.names]
    out = Path(args.html)
    with tempfile.TemporaryDirectory() as tmp:
        kernels = install_kernelspec(Path(tmp))
        for path in chosen:
            start = time.perf_counter()
            print(f"running {path.name} ...", flush=True)
            overrides = dict(SMALL[path.stem]) if args.small else {}
            if args.fig_dir:
                overrides["FIG_DIR"] = str(Path(args.fig_dir).resolve() / path.stem)
            nb = execute(path, overrides, kernels)
            write_html(nb, out / f"{path.stem}.html")
            print(f"  wrote {out / (path.stem + '.html')} ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
