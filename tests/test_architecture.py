"""Imports go one way, folder by folder, with no cycles; benchmarks use public names only.

Everything is one package, ``cloudmarket``; its parts are ``cloudmarket.agents``,
``cloudmarket.model``, ``cloudmarket.experiments``, the package root (``cloudmarket``,
``cloudmarket.__main__``) and ``cloudmarket.app`` (the page). Layers, lowest first:

- agents use nothing of ours;
- model uses agents;
- experiments use model (and agents);
- the page (``cloudmarket/app.py``) uses model (and agents), never experiments;
- the root uses any part but the page; no part uses the root or the page;
- benchmarks use any part, through public names only.

Every import counts, including those inside functions (lazy imports).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"agents": "cloudmarket.agents", "model": "cloudmarket.model",
           "experiments": "cloudmarket.experiments", "cloudmarket": "cloudmarket"}
ALLOWED = {  # part -> the parts it may import (its own included)
    "agents": {"agents"},
    "model": {"model", "agents"},
    "experiments": {"experiments", "model", "agents"},
    "app": {"app", "model", "agents"},
    "root": {"root", "experiments", "model", "agents"},
}
GENERIC = {"agents", "model", "experiments", "app"}  # never imported bare: they collide in users' venvs


def package_modules() -> dict[str, Path]:
    """Every module of the package by its import name (``cloudmarket.model.market``: model/market.py)."""
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


MODULES = package_modules()


def part_of(module: str) -> str:
    """The part a module belongs to: agents, model, experiments, app or root."""
    names = module.split(".")
    if len(names) > 1 and names[1] in ("agents", "model", "experiments", "app"):
        return names[1]
    return "root"


def import_nodes(path: Path):
    """Every Import / ImportFrom in ``path``, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (``from a import b`` gives ``a``)."""
    names = set()
    for node in import_nodes(path):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif node.module and node.level == 0:
            names.add(node.module)
    return names


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``path`` imports: ``from a import b`` is ``a.b`` when that is a module, else ``a``."""
    found = set()
    for node in import_nodes(path):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in known:  # import a.b.c loads a.b.c; count the deepest of ours
                    name = name.rpartition(".")[0]
                if name:
                    found.add(name)
        else:
            assert node.level == 0, f"{path.relative_to(ROOT)}: relative import (this package imports absolutely)"
            base = node.module or ""
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (itself left out)."""
    return {name: imports_of(path, MODULES) - {name} for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted.

    >>> cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    [['a', 'b', 'c']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


# ---------------------------------------------------------------------- layers
def test_every_folder_is_covered():
    parts = {part_of(name) for name in MODULES}
    assert parts == set(ALLOWED)
    assert {"cloudmarket", "cloudmarket.__main__", "cloudmarket.app", "cloudmarket.model.params",
            "cloudmarket.experiments.runner", "cloudmarket.agents.vendor"} <= set(MODULES)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_go_one_way(part):
    files = {name: path for name, path in MODULES.items() if part_of(name) == part}
    assert files
    wrong = {}
    for name, path in files.items():
        used = {part_of(other) for other in imports_of(path, MODULES)}
        if used - ALLOWED[part]:
            wrong[str(path.relative_to(ROOT))] = sorted(used - ALLOWED[part])
    assert not wrong, f"{part} may import only {sorted(ALLOWED[part])}; found {wrong}"


def test_the_layer_check_sees_lazy_imports(tmp_path):
    # a function-level import is an import: the check must see it
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from cloudmarket.experiments.runner import sweep\n    return sweep\n")
    assert imports_of(lazy, MODULES) == {"cloudmarket.experiments.runner"}


def test_no_import_cycles_lazy_ones_included():
    graph = import_graph()
    assert sum(map(len, graph.values())) > 50  # the graph really was read
    found = cycles(graph)
    detail = "; ".join(" <-> ".join(c) + ": " + ", ".join(f"{a} -> {sorted(graph[a] & set(c))}" for a in c)
                       for c in found)
    assert not found, f"import cycles: {detail}"


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


# ---------------------------------------------------------------------- what loads what
def loaded_after(statement: str) -> set[str]:
    """Top-level module names loaded by a fresh interpreter after ``statement``."""
    code = f"{statement}; import sys; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_the_schema_loads_without_mesa():
    loaded = loaded_after("import cloudmarket.model.params as p; assert 'best-response' in p.SCHEMA['price_rule'].choices")
    assert "cloudmarket" in loaded
    assert not loaded & {"mesa", "matplotlib", "networkx", "pandas"}, sorted(loaded)


def test_the_version_loads_nothing_heavy():
    # `cloudmarket --version` and the command line's thread limits (set before numpy loads)
    loaded = loaded_after("import cloudmarket; assert cloudmarket.__version__")
    assert not loaded & {"numpy", "mesa", "pandas"}, sorted(loaded)


def test_public_names_stay_where_they_were():
    code = ("from cloudmarket.agents import (FOCUS_PROFILES, MENUS, PRICE_RULES, RATES, SEGMENTS, SPLITS, "
            "CloudVendor, EnterpriseCustomer, economics, make_rule, starting_focus); "
            "from cloudmarket.agents.vendor import PRICE_RULES as from_vendor; "
            "from cloudmarket.model import SCENARIOS, CloudMarket, ParameterError, get_scenario, resolve; "
            "from cloudmarket.model.run import available_memory, check_memory; "
            "from cloudmarket.model.charts import plt; "
            "from cloudmarket.experiments.runner import ROOT, git_state, software_versions; "
            "import cloudmarket; assert cloudmarket.CloudMarket is CloudMarket and PRICE_RULES is from_vendor")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------- one job each
def calls_named(path: Path, owner: str, attribute: str) -> int:
    """How many calls ``owner.attribute(...)`` ``path`` makes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr == attribute and isinstance(node.func.value, ast.Name)
               and node.func.value.id == owner)


def code_strings(path: Path) -> set[str]:
    """String constants of ``path``'s code (docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings}


def runs_git(path: Path) -> bool:
    """Whether ``path`` builds a command line starting with "git" (a list or tuple)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, (ast.List, ast.Tuple)) and node.elts and isinstance(node.elts[0], ast.Constant)
               and node.elts[0].value == "git" for node in ast.walk(tree))


def test_system_probing_plotting_backend_and_git_each_live_in_one_module():
    probing, backend, git = set(), set(), set()
    for name, path in MODULES.items():
        if any(s.startswith(("/proc/meminfo", "/sys/fs/cgroup")) for s in code_strings(path)):
            probing.add(name)
        if calls_named(path, "matplotlib", "use"):
            backend.add(name)
        if runs_git(path):
            git.add(name)
    assert probing == {"cloudmarket.model.host_memory"}
    assert backend == {"cloudmarket.model.plot_backend"}
    assert git == {"cloudmarket.experiments.checkout"}


# ---------------------------------------------------------------------- benchmarks
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(path: Path) -> set[tuple[str, str]]:
    """(file, name) of every private name of ours a benchmark uses.

    Private means one leading underscore. A benchmark may use its own private names
    (``self._x`` it assigns, ``def _f`` it defines and does not inherit); everything else
    counts: imports of private names or modules of cloudmarket, attribute reads of private
    names on any other object, getattr/setattr/hasattr with a private name, and methods
    with private names in a class that subclasses one of ours (an override of a private
    method).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours_imported = set()  # names bound to cloudmarket objects by imports
    own = set()  # private names this file defines on its own objects
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cloudmarket"):
            for alias in node.names:
                ours_imported.add(alias.asname or alias.name)
                if private(alias.name) or any(private(part) for part in node.module.split(".")):
                    found.add((path.name, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cloudmarket") and any(private(p) for p in alias.name.split(".")):
                    found.add((path.name, alias.name))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self" and private(target.attr):
                    own.add(target.attr)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            inherits_ours = any(isinstance(b, ast.Name) and b.id in ours_imported for b in node.bases)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and private(item.name):
                    (found.add((path.name, item.name)) if inherits_ours else own.add(item.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            on_self = isinstance(node.value, ast.Name) and node.value.id == "self"
            if not (on_self and node.attr in own):
                found.add((path.name, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and private(node.args[1].value):
            found.add((path.name, node.args[1].value))
    return found


def test_benchmarks_use_public_names_only():
    assert len(BENCHMARKS) >= 5
    found = set().union(*(private_uses(path) for path in BENCHMARKS))
    assert not found, f"benchmarks use private names: {sorted(found)}"


def test_the_private_name_check_sees_each_kind_of_use(tmp_path):
    bench = tmp_path / "bench.py"
    bench.write_text(
        "from cloudmarket.model.market import CloudMarket, _hidden\n"
        "import cloudmarket.model._secret\n"
        "class Mine(CloudMarket):\n"
        "    def _place_customers(self):\n"
        "        self._own = 1\n"
        "        return self._own, self._inherited, self.grid._cells, getattr(self, '_sample')\n"
        "class Helper:\n"
        "    def _tidy(self):\n"
        "        return self._tidy, self.__class__\n")
    assert private_uses(bench) == {("bench.py", name) for name in (
        "_hidden", "cloudmarket.model._secret", "_place_customers", "_inherited", "_cells", "_sample")}
