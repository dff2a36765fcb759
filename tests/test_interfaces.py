"""The library's interfaces, read from the source: no module uses another's private name, a
name has one address and one meaning, and every `S2S_*` variable is read in one place and
listed in the README.

Two packages are facades, by design: `s2s` (the names a chapter calls as `s2s.check`,
`s2s.setup`, ...) and `s2s.models` (the model interface and kinds); what their `__all__`
lists is imported from them, everywhere outside their own package."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "utils" / "s2s"
CODE = ("utils", "tests", "tools", "benchmarks", "chapters", "experiments")
FACADES = ("s2s", "s2s.models")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in PACKAGE.rglob("*.py")}


def code_files() -> list[Path]:
    return [p for folder in CODE if (ROOT / folder).is_dir()
            for p in sorted((ROOT / folder).rglob("*.py"))
            if ".venv" not in p.parts and p.name != Path(__file__).name]


def defined(tree: ast.Module) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                names |= {t.id for t in elts if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def exported(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                 for t in node.targets)):
            return list(ast.literal_eval(node.value))
    return []


def s2s_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every `from s2s... import name` in a file."""
    tree = ast.parse(path.read_text(), str(path))
    return [(node.lineno, node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and (node.module == "s2s" or node.module.startswith("s2s."))
            for alias in node.names]


def private_uses(path: Path) -> list[str]:
    """`from s2s.x import _y` and `s2s.x._y` in a file (dunders aside)."""
    text = path.read_text()
    found = [f"{path.name}:{line}: from {module} import {name}"
             for line, module, name in s2s_imports(path)
             if name.startswith("_") and not name.startswith("__")]
    for match in re.finditer(r"\bs2s(?:\.[a-z_]+)*\.(_[a-z]\w*)", text):
        line = text.count("\n", 0, match.start()) + 1
        found.append(f"{path.name}:{line}: {match.group(0)}")
    return found


def test_no_module_uses_another_modules_private_name():
    found = [use for path in code_files() for use in private_uses(path)]
    assert not found, "private names used outside their module:\n" + "\n".join(found)


def test_the_private_name_check_catches_one(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("from s2s.checkpoints import _cpu, __doc__\nimport s2s.train\n"
                       "s2s.train._x\ns2s.train.__file__\n")
    assert private_uses(planted) == ["x.py:1: from s2s.checkpoints import _cpu",
                                     "x.py:3: s2s.train._x"]


def test_only_facades_re_export():
    """A module's `__all__` lists what it defines; only the facades list other modules'."""
    modules = library()
    wrong = [f"{name}: __all__ lists {sorted(set(exported(tree)) - defined(tree))}"
             for name, tree in modules.items()
             if name not in FACADES and set(exported(tree)) - defined(tree)]
    assert not wrong, "re-exports:\n" + "\n".join(wrong)


def addresses() -> dict[str, str]:
    """The one address of every public name of the library: its facade when a facade lists
    it, else the module that defines it."""
    modules = library()
    where: dict[str, str] = {}
    for name, tree in modules.items():
        for symbol in defined(tree):
            if not symbol.startswith("_"):
                where[f"{name}:{symbol}"] = name
    for facade in FACADES:
        for symbol in exported(modules[facade]):
            for key in [k for k in where if k.endswith(f":{symbol}")
                        and (k.startswith(facade + ".") or k.startswith(facade + ":")
                             or facade == "s2s")]:
                where[key] = facade
    return where


def test_every_import_uses_the_names_one_address():
    modules = library()
    definers: dict[str, set[str]] = defaultdict(set)
    for name, tree in modules.items():
        for symbol in defined(tree):
            definers[symbol].add(name)
    wrong = []
    for path in code_files():
        inside = path.is_relative_to(PACKAGE)
        for line, module, symbol in s2s_imports(path):
            if (module not in modules or f"{module}.{symbol}" in modules
                    or symbol.startswith("_")):
                continue  # a submodule (from s2s import zoo), or the test above
            if symbol in definers and module in definers[symbol]:
                ok = True  # from the defining module
                facade = next((f for f in FACADES if f != module and symbol in exported(
                    modules[f]) and module.startswith(f + ".")), None)
                if facade and not inside:
                    ok = False  # outside the package, a facade's name comes from the facade
            else:
                ok = module in FACADES and symbol in exported(modules[module])
                if ok and inside and module == "s2s":
                    ok = False  # inside the library, from its module (no import cycle)
            if not ok:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: from {module} import {symbol}"
                             f" (defined in {', '.join(sorted(definers.get(symbol, ['?'])))})")
    assert not wrong, "names imported from a second address:\n" + "\n".join(wrong)


# Method-like names a module may define once each without meaning something else.
SHARED_NAMES = {"main"}


def functions_and_classes(tree: ast.Module) -> set[str]:
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def test_one_name_one_meaning():
    """No two modules of the library define a function or class of the same public name
    (two `describe`s, two `check_device`s, two `setup`s once meant different things)."""
    definers: dict[str, list[str]] = defaultdict(list)
    for name, tree in library().items():
        for symbol in functions_and_classes(tree):
            if not symbol.startswith("_") and symbol not in SHARED_NAMES:
                definers[symbol].append(name)
    twice = {s: m for s, m in definers.items() if len(m) > 1}
    assert not twice, f"names defined in several modules: {twice}"


def settings_read(path: Path) -> list[str]:
    """`S2S_*` names a file reads from the environment (os.environ / os.getenv)."""
    text = path.read_text()
    pattern = r"(?:environ(?:\.get)?\s*[\[(]\s*|getenv\(\s*)[\"'](S2S_\w+)"
    return re.findall(pattern, text)


def test_the_library_reads_settings_in_one_module():
    readers = {module_name(p): settings_read(p) for p in PACKAGE.rglob("*.py")}
    wrong = {m: names for m, names in readers.items() if names and m != "s2s.settings"}
    assert not wrong, f"S2S_* variables read outside s2s.settings: {wrong}"
    assert "os.environ" not in "".join(
        p.read_text() for p in PACKAGE.rglob("*.py")
        if p.name not in ("settings.py", "distributed.py")), (
        "only s2s.settings reads the environment (and s2s.distributed torchrun's variables)")


def test_every_setting_is_in_the_readme_table():
    from s2s import settings

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    table = set(re.findall(r"^\| `(S2S_\w+)`", section, flags=re.M))
    known = set(settings.VARIABLES) | set(settings.TEST_VARIABLES)
    used = {name for path in code_files() + [ROOT / ".ci" / "run", ROOT / "Makefile"]
            for name in re.findall(r"\bS2S_[A-Z_]+\b", path.read_text())}
    assert used <= known, f"S2S_* names used but not in s2s.settings: {sorted(used - known)}"
    assert table == known, (f"README Settings table: missing {sorted(known - table)}, "
                            f"unknown {sorted(table - known)}")


@pytest.mark.parametrize("module", ["s2s"])
def test_importing_the_package_loads_no_downloader(module):
    import subprocess
    import sys

    code = (f"import sys, {module}\n"
            "heavy = [m for m in ('pooch', 'requests', 'matplotlib', 'sacrebleu') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "utils"), "PATH": "/usr/bin:/bin"},
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout
