"""Imports run one way, as docs/layout.md draws them: no module of ganxfer imports, even inside a
function, a module that imports it back; none reaches for another module's private names; and
no layer imports a layer drawn above it. The code is read, not run: nothing here imports ganxfer."""

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "ganxfer"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(path): ast.parse(path.read_text(), str(path)) for path in SOURCES}
PACKAGES = {module_name(path) for path in SOURCES if path.name == "__init__.py"}


class Import(NamedTuple):
    module: str  # the module of the package imported
    taken: str | None  # the name taken from it (`from ganxfer.data import Schema`), or None
    bound: str | None  # the name the importing module binds the module to, if one


def imports(name: str, tree: ast.Module) -> list[Import]:
    """Every import of a module of the package in `name`'s source, those inside functions included:
    `from ganxfer import models` imports the module ganxfer.models, `from ganxfer.data import
    Schema` imports ganxfer.data and takes Schema from it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, None, alias.asname or (None if "." in alias.name else alias.name))
                      for alias in node.names if alias.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(name, node)
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.append(Import(f"{base}.{alias.name}", None, alias.asname or alias.name))
                elif base in MODULES:
                    found.append(Import(base, alias.name, None))
    return found


def absolute(name: str, node: ast.ImportFrom) -> str:
    """The module a `from ... import` names, a relative one (`from . import x`) made absolute."""
    if not node.level:
        return node.module
    package = name.split(".") if name in PACKAGES else name.split(".")[:-1]
    return ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the other modules of the package it imports."""
    return {name: {found.module for found in imports(name, tree)} - {name} for name, tree in MODULES.items()}


def test_the_package_has_no_import_cycle():
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as cycle:
        raise AssertionError("modules import each other: " + " -> ".join(reversed(cycle.args[1]))) from None


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_names_used(name: str, tree: ast.Module) -> list[str]:
    """`module._name` for each private name `name` takes from another module of the package,
    whether imported by name or read off an imported module."""
    found = imports(name, tree)
    used = [f"{each.module}.{each.taken}" for each in found if each.taken and is_private(each.taken)]
    modules = {each.bound: each.module for each in found if each.bound}
    used += [f"{modules[node.value.id]}.{node.attr}" for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
             and is_private(node.attr)]
    return used


def test_no_module_uses_another_modules_private_names():
    used = {name: private_names_used(name, tree) for name, tree in MODULES.items()}
    used = {name: names for name, names in used.items() if names}
    assert not used, "private names used outside their module: " + "; ".join(
        f"{name} uses {', '.join(names)}" for name, names in sorted(used.items()))


def drawn_layers() -> list[list[str]]:
    """The layers of docs/layout.md's drawing (the indented lines from `cli` on), top first, each
    as the modules or packages it names."""
    drawing = re.search(r"^    cli\b.*\n(?:    .*\n)*", (ROOT / "docs" / "layout.md").read_text(), re.M).group(0)
    return [[f"ganxfer.{name.strip()}" for name in layer.split(",")] for layer in drawing.split("->")]


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    """The position of the layer naming `module` or a package holding it; None where none does."""
    return next((depth for depth, layer in enumerate(layers)
                 for named in layer if module == named or module.startswith(named + ".")), None)


# The package itself (its version) and `python -m ganxfer` (the command line) are in no layer.
UNDRAWN = ("ganxfer", "ganxfer.__main__")


def test_every_module_sits_in_a_drawn_layer():
    layers = drawn_layers()
    unplaced = [name for name in MODULES if name not in UNDRAWN and layer_of(name, layers) is None]
    assert not unplaced, f"docs/layout.md does not draw {', '.join(unplaced)} in a layer"
    unknown = [name for layer in layers for name in layer if name not in MODULES]
    assert not unknown, f"docs/layout.md draws {', '.join(unknown)}, not a module of the package"


def test_no_layer_imports_one_drawn_above_it():
    layers, graph = drawn_layers(), import_graph()
    upward = [f"{name} imports {module}" for name, modules in sorted(graph.items()) for module in sorted(modules)
              if None not in (layer_of(name, layers), layer_of(module, layers))
              and layer_of(module, layers) < layer_of(name, layers)]
    assert not upward, "imports that run up docs/layout.md's layers: " + "; ".join(upward)
