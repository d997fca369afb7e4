"""The package's layering: imports run one way, private names stay private.

Parses every module of ``sktune/`` with ``ast`` (nothing is imported) and
checks what ``tests/test_public_functions.py`` cannot: that the import graph
has no cycle (imports inside functions included: a lazy import only hides a
cycle), that no module imports another module's private name, that private
names of the dependencies are used only in ``sktune/_compat.py``, and that
the values that pass between stages do not import the machinery at import
time.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sktune"

#: Third-party packages (and the standard library's multiprocessing) whose
#: private names only _compat.py may use.
DEPENDENCIES = {"joblib", "sklearn", "threadpoolctl", "numba", "numpy", "scipy", "pandas",
                "matplotlib", "psutil", "cloudpickle", "distributed", "dask", "ray",
                "sklearnex", "daal4py", "multiprocessing"}

#: Values between the stages (DESIGN.md): they may use the machinery at run
#: time, never import it when they are imported.
VALUE_MODULES = ("sktune.space", "sktune.machine", "sktune.results", "sktune.workload",
                 "sktune.recommendation", "sktune.search")
MACHINERY = ("sktune._trials", "sktune.reporters", "sktune._profile", "sktune._measure",
             "sktune._candidates")


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
#: Compiled extensions (built from .pyx by setup.py): modules, not parsed.
EXTENSIONS = {_module_name(p) for p in PACKAGE.rglob("*.pyx")}


def _is_package(name):
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(module, node):
    """The absolute module a ``from ... import`` names, from inside ``module``."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module):
    """``(target module, imported name or None, line, at top level)`` of ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            found += [(target, alias.name, node.lineno, id(node) in top)
                      for alias in node.names]
    return found


def _internal_edges():
    """``{module: {sktune module it imports}}``, submodules imported by name included."""
    edges = {}
    for module in MODULES:
        targets = set()
        for target, name, _, _ in _imports(module):
            if name is not None and f"{target}.{name}" in MODULES:
                targets.add(f"{target}.{name}")  # from . import submodule
            elif target in MODULES:
                targets.add(target)
        edges[module] = targets - {module}
    return edges


def _cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(edge_target, node_target):
    """A package's module is its ``__init__``: ``sktune._engines`` is under itself."""
    return edge_target == node_target or edge_target.startswith(node_target + ".")


def test_import_graph_has_no_cycle():
    # Check that no module imports, directly or through others, a module
    # that imports it back: at top level or inside a function.
    # At 3e06946 this found three cycles (space <-> _apply/engines/
    # _substitutes/_intelex; _format <-> machine; reporters -> reporters.json
    # -> results -> reporters, which also ran through the package root).
    assert _cycles(_internal_edges()) == []


def test_no_private_name_crosses_modules():
    # Check that no module imports another sktune module's private name
    # (a private module itself may be imported: its public names are its API).
    bad = []
    for module in MODULES:
        for target, name, line, _ in _imports(module):
            submodule = f"{target}.{name}"
            if (target and target.split(".")[0] == "sktune" and name and _private(name)
                    and submodule not in MODULES and submodule not in EXTENSIONS):
                bad.append(f"{module}:{line} imports {target}.{name}")
    assert bad == []


def test_private_names_of_dependencies_only_in_compat():
    # Check that only sktune/_compat.py imports a private module or name of
    # joblib, scikit-learn, multiprocessing, distributed and the others, or
    # reads a private attribute of a module it imported.
    bad = []
    for module, path in MODULES.items():
        if module == "sktune._compat":
            continue
        for target, name, line, _ in _imports(module):
            root = (target or "").split(".")[0]
            if root not in DEPENDENCIES:
                continue
            if any(_private(part) for part in target.split(".")) or (name and _private(name)):
                bad.append(f"{module}:{line} imports {target}" + (f".{name}" if name else ""))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {alias.asname or alias.name.split(".")[0]
                   for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for alias in node.names if alias.name.split(".")[0] in DEPENDENCIES}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                bad.append(f"{module}:{node.lineno} reads {node.value.id}.{node.attr}")
    assert bad == []


@pytest.mark.parametrize("module", VALUE_MODULES)
def test_value_modules_do_not_import_the_machinery_at_import_time(module):
    # Check that importing a value (Config, Machine, ProfileResult...) does
    # not import where trials run, the reporters or the orchestration.
    top = {target for target, name, _, at_top in _imports(module) if at_top}
    top |= {f"{t}.{n}" for t, n, _, at_top in _imports(module) if at_top and n}
    assert not [t for t in top if any(_package_of(t, m) for m in MACHINERY)]
