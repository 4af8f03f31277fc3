"""Imports go one way: experiments and the page use model; model uses agents; agents use neither.

Everything is one package, ``cloudmarket``; its parts are ``cloudmarket.agents``,
``cloudmarket.model``, ``cloudmarket.experiments`` and ``cloudmarket.app`` (the page).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = {"agents": ROOT / "agents", "model": ROOT / "model", "experiments": ROOT / "experiments"}
FORBIDDEN = {"agents": {"model", "experiments", "app"}, "model": {"experiments", "app"}}
GENERIC = {"agents", "model", "experiments", "app"}  # never imported bare: they collide in users' venvs


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def parts_used(path: Path) -> set[str]:
    """Which parts of cloudmarket (agents, model, experiments, app) ``path`` imports."""
    return {name.split(".")[1] for name in imported_modules(path)
            if name.startswith("cloudmarket.") and len(name.split(".")) > 1}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package):
    files = sorted(PARTS[package].glob("*.py"))
    assert files
    for path in files:
        wrong = parts_used(path) & FORBIDDEN[package]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_no_bare_generic_imports_anywhere():
    files = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and "build" not in p.parts]
    assert len(files) > 20
    for path in files:
        bare = {name.split(".")[0] for name in imported_modules(path)} & GENERIC
        assert not bare, f"{path.relative_to(ROOT)} imports {sorted(bare)} without the cloudmarket prefix"


def test_params_and_scenarios_do_not_import_each_other():
    assert "cloudmarket.model.params" not in imported_modules(ROOT / "model" / "scenarios.py")
    source = (ROOT / "model" / "scenarios.py").read_text(encoding="utf-8")
    assert "model.params" not in source
