"""Each package's public surface is its `__all__`, and the product code keeps to it.

A module outside a package imports from it only names that the package lists
in `__all__`: `from store import Store` and `from store.writer import Writer`
are fine (`Writer` is in `store.__all__`); `from store.view import View` reaches
past it. "Outside" is per package, subpackages included: `mcpserver.agent`
is outside `mcpserver.surface`, and `mcpserver.surface.tools` is outside
`mcpserver.web`. Only product code is checked (the import-linter root
packages); tests and benchmarks may reach in.

The reach-throughs that exist today are listed in `KNOWN_REACH_THROUGHS`, so
a new one fails here: export the name from its package instead, or add it to
the list with the reason. An entry that is no longer used fails too, so the
list shrinks as they go away.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOT_PACKAGES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "importlinter"
]["root_packages"]

# (importing root package, imported module, name): names a package's code takes from
# another package's module although that package does not export them.
KNOWN_REACH_THROUGHS: frozenset[tuple[str, str, str]] = frozenset(
    {
        # The demo starts the simulator in-process (`--demo`) and offers its flags.
        ("mcpserver", "simulator.cli", "add_simulate_arguments"),
        ("mcpserver", "simulator.cli", "run_simulate"),
    }
)


@dataclass(frozen=True)
class Reach:
    """One import of a name (or, for `import a.b`, a module) past a package's `__all__`."""

    importer: str  # the importing module
    target: str  # the module the name comes from
    name: str  # "" for `import a.b`

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.importer.partition(".")[0], self.target, self.name)

    def __str__(self) -> str:
        what = f"from {self.target} import {self.name}" if self.name else f"import {self.target}"
        return f"{self.importer}: {what}"


def _module_files() -> dict[str, Path]:
    """Every product module, by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for package in ROOT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = _module_files()
PACKAGES = sorted(name for name, path in MODULES.items() if path.name == "__init__.py")


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _guarding_package(importer: str, target: str) -> str | None:
    """The outermost package holding `target` but not `importer`: whose `__all__` applies."""
    parts = target.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if prefix in PACKAGES and not _inside(importer, prefix):
            return prefix
    return None  # a module of a package that holds the importer too: internal


def _public(package: str) -> frozenset[str]:
    return frozenset(getattr(importlib.import_module(package), "__all__", ()))


def _exported_module(package: str, target: str) -> str:
    """Whose `__all__` applies: a package may export submodules (`kinds` lists `pod`), and
    then the submodule's own `__all__` says what of it is public."""
    while target != package:
        head = target[len(package) + 1 :].partition(".")[0]
        if head not in _public(package):
            break
        package = f"{package}.{head}"
    return package


def _imports(importer: str) -> Iterator[tuple[str, str]]:
    """(module, name) per imported product name of `importer`; name "" for `import a.b`."""
    tree = ast.parse(MODULES[importer].read_text(), filename=str(MODULES[importer]))
    for node in ast.walk(tree):  # function-level and TYPE_CHECKING imports count too
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.partition(".")[0] in ROOT_PACKAGES:
                for alias in node.names:
                    yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] in ROOT_PACKAGES:
                    yield alias.name, ""


def reach_throughs() -> list[Reach]:
    """Every import in the product code of a name its package does not export."""
    found = []
    for importer in sorted(MODULES):
        for target, name in _imports(importer):
            package = _guarding_package(importer, target)
            if package is None:
                continue
            package = _exported_module(package, target)
            if name:
                if name not in _public(package):
                    submodule = f"{target}.{name}"  # `from store import view`: a module
                    found.append(Reach(importer, target, "" if submodule in MODULES else name))
            elif target != package:
                found.append(Reach(importer, target, ""))
    return found


def test_the_product_packages_are_found() -> None:
    assert {"store", "watcher", "mcpserver", "mcpserver.surface", "mcpserver.web"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_lists_its_public_names_in_all(package: str) -> None:
    module = importlib.import_module(package)
    public = getattr(module, "__all__", None)
    assert isinstance(public, list | tuple), f"{package} has no __all__"
    assert all(isinstance(name, str) for name in public)
    assert len(set(public)) == len(public), f"{package}.__all__ repeats a name"
    missing = [name for name in public if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"


def test_no_new_import_reaches_past_a_package_all() -> None:
    new = [str(reach) for reach in reach_throughs() if reach.key not in KNOWN_REACH_THROUGHS]
    assert not new, (
        "imports past a package's __all__ (export the name from the package, "
        "or add it to KNOWN_REACH_THROUGHS with the reason):\n" + "\n".join(new)
    )


def test_every_known_reach_through_is_still_used() -> None:
    used = {reach.key for reach in reach_throughs()}
    gone = sorted(KNOWN_REACH_THROUGHS - used)
    assert not gone, f"no longer imported; remove from KNOWN_REACH_THROUGHS: {gone}"
