"""The package's layout: no import cycle, each decision and default written in one place, small modules, the
folders the architecture page shows, and the old import paths that still work."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

import smm
from smm import _compat, defaults

ROOT = Path(__file__).resolve().parents[1]
#: Where smm may import by a string: the shims (old paths) and the lazy exports, whose targets are the
#: TYPE_CHECKING imports that the graph below reads.
STRING_IMPORTS_ALLOWED = {"smm._compat", "smm._lazy"}


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted((ROOT / "smm").rglob("*.py"))
    }


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _string_import(node: ast.AST) -> str | None:
    """The module ``importlib.import_module("smm...")`` or ``__import__("smm...")`` names; "?" if not a literal."""
    if not isinstance(node, ast.Call):
        return None
    name = ast.unparse(node.func)
    if name not in ("importlib.import_module", "import_module", "__import__"):
        return None
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return "?"


def _import_edges() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> the smm modules it imports at run time, and -> those it imports for type checkers only.

    Run time: every import statement (in functions too), every string import with a literal name,
    the TYPE_CHECKING imports of a package that exports them lazily (smm._lazy imports them on first
    use), and the packages above an imported module (importing ``smm.face.video`` runs
    ``smm/face/__init__.py``), except those above the importer itself.
    """
    modules = _modules()
    runtime: dict[str, set[str]] = {}
    typing: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        lazy = "lazy_exports(" in path.read_text() and name != "smm._lazy"
        guarded = {id(node) for block in ast.walk(tree) if _is_type_checking(block) for node in ast.walk(block)}
        found: dict[bool, set[str]] = {True: set(), False: set()}
        for node in ast.walk(tree):
            at_runtime = id(node) not in guarded or lazy
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("smm") and not node.level:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    found[at_runtime].add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                found[at_runtime] |= {alias.name for alias in node.names if alias.name.startswith("smm")}
            elif (target := _string_import(node)) is not None and target.startswith("smm"):
                found[at_runtime].add(target)
        for kind, targets in found.items():
            with_parents = set(targets)
            for target in targets if kind else ():  # type checkers run no __init__
                parts = target.split(".")
                for depth in range(2, len(parts)):
                    parent = ".".join(parts[:depth])
                    if parent in modules and not name.startswith(parent + ".") and name != parent:
                        with_parents.add(parent)
            (runtime if kind else typing)[name] = {t for t in with_parents if t in modules and t != name}
    return runtime, typing


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first walk meets (each as module -> ... -> the same module)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    runtime, _ = _import_edges()
    assert "smm.models.loader" in runtime["smm.models.emotionnet"]
    assert "smm.inference" in runtime["smm.runs.runner"]  # a parent package's __init__ runs too
    assert "smm.models.builder" in runtime["smm"]  # the lazy exports are edges
    assert [" -> ".join(cycle) for cycle in _cycles(runtime)] == []


def _knots(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """The groups of modules that import each other in a circle (strongly connected components of two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    knots: set[frozenset[str]] = set()

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                knots.add(frozenset(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return knots


def _package(module: str) -> str:
    """``smm.face.video`` -> ``smm.face``; ``smm.defaults`` stays itself."""
    return ".".join(module.split(".")[:2])


def _package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between the packages (and top-level modules) of smm, each module counted in its package."""
    packages: dict[str, set[str]] = {}
    for module, targets in edges.items():
        packages.setdefault(_package(module), set()).update(
            _package(target) for target in targets if _package(target) != _package(module)
        )
    return packages


def test_the_packages_import_each_other_in_one_direction() -> None:
    """No import path leaves a package and comes back to it: the predict path from the command line to the
    CSV crosses each package at most once (cli -> runs -> inference -> face, formats)."""
    runtime, typing = _import_edges()
    both = {name: runtime.get(name, set()) | typing.get(name, set()) for name in {*runtime, *typing}}
    assert _knots(_package_edges(both)) == set()
    assert _knots(_package_edges({"smm.a.x": {"smm.b.y"}, "smm.b.y": {"smm.b.z"}, "smm.b.z": {"smm.a.w"}})) == {
        frozenset({"smm.a", "smm.b"})
    }


def test_the_face_package_knows_nothing_of_the_model() -> None:
    """smm.face decodes, detects, tracks and aligns: it imports nothing of the model, the prediction layer or runs."""
    runtime, typing = _import_edges()
    reached = {
        target for name in {*runtime, *typing} if name.startswith("smm.face") for target in runtime.get(name, set())
    } | {target for name in typing if name.startswith("smm.face") for target in typing[name]}
    assert sorted(t for t in reached if t.startswith(("smm.inference", "smm.models", "smm.runs"))) == []
    assert {_package(t) for t in reached} - {"smm.face"} <= {"smm.defaults", "smm._checks", "smm._atomic"}


def test_formats_are_serialisation_only() -> None:
    """The file formats import nothing of the prediction layer (the result type writes itself through them)."""
    runtime, typing = _import_edges()
    for name in {*runtime, *typing}:
        if name.startswith("smm.formats"):
            reached = runtime.get(name, set()) | typing.get(name, set())
            assert sorted(t for t in reached if t.startswith(("smm.inference", "smm.runs", "smm.face"))) == [], name


def test_type_only_cycles_are_reported_separately() -> None:
    """A module may name a type of a module that imports it, for type checkers only; these are the only ones."""
    runtime, typing = _import_edges()
    assert _knots(runtime) == set()
    both = {name: runtime.get(name, set()) | typing.get(name, set()) for name in {*runtime, *typing}}
    assert _knots(both) == {
        # The model saves itself through checkpoint and loads through loader, which name it as a type.
        frozenset({"smm.models.checkpoint", "smm.models.emotionnet", "smm.models.loader"}),
    }
    assert _knots({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}


def test_the_graph_check_finds_a_planted_cycle_a_string_import_and_a_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, _ = _import_edges()
    planted = {name: set(targets) for name, targets in runtime.items()}
    planted["smm.models.config"].add("smm.models.emotionnet")  # the model imports its config: a loop
    cycles = [" -> ".join(cycle) for cycle in _cycles(planted)]
    assert any("smm.models.config -> smm.models.emotionnet" in cycle for cycle in cycles), cycles
    tree = ast.parse('importlib.import_module("smm.face.calibration")\n__import__("smm.data")\nimport_module(name)')
    assert [_string_import(node) for node in ast.walk(tree) if _string_import(node)] == [
        "smm.face.calibration",
        "smm.data",
        "?",
    ]


def test_no_module_imports_by_a_string_outside_the_shims() -> None:
    for name, path in _modules().items():
        if name in STRING_IMPORTS_ALLOWED:
            continue
        found = [_string_import(node) for node in ast.walk(ast.parse(path.read_text())) if _string_import(node)]
        assert found == [], f"{name} imports {found} by a string"


def _calls(path: Path) -> list[str]:
    """The dotted names every call in a module calls (``Precision.resolve``, ``resolve_engine``)."""
    return [ast.unparse(node.func) for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def test_precision_and_engine_are_resolved_in_one_place() -> None:
    """Only the engines module resolves a precision or an engine, and builds engines; the rules' own module
    (runtime.py) applies resolve_precision inside Precision.resolve."""
    resolving = {"Precision.resolve", "resolve_precision", "resolve_engine", "EagerEngine", "OnnxRuntimeEngine"}
    where: dict[str, set[str]] = {}
    for name, path in _modules().items():
        for call in _calls(path):
            if call.split(".")[-1] in {r.split(".")[-1] for r in resolving} and (
                call in resolving or call.endswith(tuple(f".{r}" for r in resolving))
            ):
                where.setdefault(call.split(".")[-1], set()).add(name)
    assert where == {
        "resolve": {"smm.inference.engines"},
        "resolve_precision": {"smm.inference.runtime"},
        "resolve_engine": {"smm.inference.engines"},
        "EagerEngine": {"smm.inference.engines"},
        "OnnxRuntimeEngine": {"smm.inference.engines"},
    }


def test_the_check_of_one_place_sees_a_second_one(tmp_path: Path) -> None:
    planted = tmp_path / "elsewhere.py"
    planted.write_text("from smm.inference.runtime import Precision\nsetup = Precision.resolve('auto', 'cpu')\n")
    assert "Precision.resolve" in _calls(planted)


CHOICES = {
    "FACES": defaults.FACES,
    "ENGINES": defaults.ENGINES,
    "PRECISIONS": defaults.PRECISIONS,
    "VIDEO_SUFFIXES": defaults.VIDEO_SUFFIXES,
    "PHOTO_SUFFIXES": defaults.PHOTO_SUFFIXES,
}
DEFAULTED = {"detect_every", "detect_size", "faces", "engine", "precision", "batch_size", "threshold", "clamp_va"}


def _written_defaults(tree: ast.AST) -> list[str]:
    """Defaults and choice lists written out as literals: what only smm/defaults.py may do."""
    found = []
    typed = {  # Literal["all", "largest"]: a type for type checkers, not a list of choices
        id(node.slice)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and "Literal" in ast.unparse(node.value)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts) and node.elts:
            if id(node) in typed:
                continue
            value = tuple(e.value for e in node.elts)
            found += [f"{name} {value}" for name, choices in CHOICES.items() if set(value) == set(choices)]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args]
            pairs = list(zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if d is not None]
            found += [
                f"{node.name}({a.arg}={ast.unparse(d)})"
                for a, d in pairs
                if a.arg in DEFAULTED and isinstance(d, ast.Constant) and d.value is not None
            ]
        if isinstance(node, ast.Call):
            option = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            for keyword in node.keywords:
                written = isinstance(keyword.value, ast.Constant) and keyword.value.value is not None
                if keyword.arg == "default" and option in {f"--{n.replace('_', '-')}" for n in DEFAULTED} and written:
                    found.append(f"{option} default={ast.unparse(keyword.value)}")
                if keyword.arg in DEFAULTED and written and ast.unparse(node.func).endswith("FaceFollower"):
                    found.append(f"FaceFollower({keyword.arg}={ast.unparse(keyword.value)})")
    return found


def test_defaults_and_choices_are_written_once() -> None:
    for name, path in _modules().items():
        if name == "smm.defaults":
            continue
        assert _written_defaults(ast.parse(path.read_text())) == [], name
    # The values, pinned (their effects are pinned in tests/test_defaults.py).
    assert (defaults.DETECT_EVERY, defaults.DETECT_SIZE) == (10, 480)
    assert (defaults.DEFAULT_FACES, defaults.DEFAULT_ENGINE, defaults.DEFAULT_PRECISION) == ("all", "auto", "auto")
    assert (defaults.BATCH_SIZE, defaults.THRESHOLD, defaults.CLAMP_VA) == (32, 0.5, False)
    imports = [
        node
        for node in ast.walk(ast.parse((ROOT / "smm" / "defaults.py").read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", "") != "__future__"
    ]
    assert imports == []  # --help reads it: it imports nothing


def test_the_check_of_defaults_sees_them_written_out() -> None:
    code = (
        "def f(x, *, detect_every=10, faces='all', engine=DEFAULT_ENGINE): ...\n"
        "p.add_argument('--precision', default='auto')\n"
        "CHOICES = ('largest', 'all')\n"
        "Choice = Literal['all', 'largest']\n"
        "FaceFollower(d, detect_size=480)\n"
    )
    assert _written_defaults(ast.parse(code)) == [
        "f(detect_every=10)",
        "f(faces='all')",
        "--precision default='auto'",
        "FACES ('largest', 'all')",
        "FaceFollower(detect_size=480)",
    ]


def test_modules_are_small_or_say_why() -> None:
    for name, path in _modules().items():
        lines = len(path.read_text().splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert lines <= 600 or "Long:" in docstring, f"{name}: {lines} lines"


def test_the_architecture_page_shows_the_folders() -> None:
    """Every package and top-level module of smm/ is on docs/architecture.rst's tree, and nothing else is."""
    page = (ROOT / "docs" / "architecture.rst").read_text()
    tree = page.split("The package on disk", 1)[1].split(".. code-block:: text", 1)[1].split("\n\n", 2)[1]
    shown = set(re.findall(r"^ {5}([\w.]+/?)", tree, flags=re.M))
    listed = re.findall(r"^ {5}((?:[\w.]+, )+[\w.]+)", tree, flags=re.M)
    shown |= {word for line in listed for word in line.split(", ")}
    actual = {p.name + "/" for p in (ROOT / "smm").iterdir() if (p / "__init__.py").is_file()}
    actual |= {p.name for p in (ROOT / "smm").glob("*.py") if not p.name.startswith("_")}
    assert shown == actual


OLD_PATHS = {  # an old path, a name in it, and what that name is now
    "smm.presets": ("ABAW3", lambda: smm.ABAW3),
    "smm.model": ("SMMEmotionNet", lambda: smm.SMMEmotionNet),
    "smm.checkpoint": ("load_checkpoint", lambda: smm.load_checkpoint),
    "smm.convert": ("read_reference_state_dict", lambda: smm.models.checkpoint.read_reference_state_dict),
    "smm.predictions": ("predict_frames", lambda: smm.inference.predict_frames),
    "smm.attention": ("ROIAttention", lambda: smm.ROIAttention),
    "smm.embedding": ("ROIEmbedding", lambda: smm.ROIEmbedding),
    "smm.sign_vehicle": ("SignVehicleHead", lambda: smm.SignVehicleHead),
    "smm.message_space": ("MessageSpaceHead", lambda: smm.MessageSpaceHead),
    "smm.positional": ("sinusoidal_encoding", lambda: smm.layers.sinusoidal_encoding),
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_import_paths_warn_and_still_work(old: str) -> None:

    assert set(OLD_PATHS) == set(_compat.MOVED_MODULES)  # every shim is tested here
    name, new = OLD_PATHS[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"^{re.escape(old)} is deprecated and will be removed in "):
        module = importlib.import_module(old)
    assert getattr(module, name) is new()
    with pytest.raises(AttributeError, match=r"is not in .*'s new homes"):
        module.no_such_name
    sys.modules.pop(old, None)


#: Paths that came and went between 0.1.0 and 0.2.0: never released, so no shim keeps them.
NEVER_RELEASED = (
    "smm.registry",
    "smm.factory",
    "smm.loader",
    "smm.runtime",
    "smm.inference.engine",
    "smm.corpus",
    "smm.training.distributed",
    "smm.prediction_files",
    "smm.face.pipeline",
    "smm.face.inputs",
    "smm.face.calibration",
)


@pytest.mark.parametrize("path", NEVER_RELEASED)
def test_paths_that_were_never_released_have_no_shim(path: str) -> None:
    assert path not in _compat.MOVED_MODULES
    sys.modules.pop(path, None)
    with pytest.raises(ModuleNotFoundError, match=re.escape(path)):
        importlib.import_module(path)


def test_the_changelog_lists_every_moved_path() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text().split("## [0.1.0]", 1)[0]
    missing = [old for old in _compat.MOVED_MODULES if f"`{old}`" not in changelog]
    assert missing == []


def test_old_package_attributes_warn_and_still_work() -> None:
    sys.modules.pop("smm.presets", None)
    smm.__dict__.pop("presets", None)
    with pytest.warns(DeprecationWarning, match=r"^smm\.presets is deprecated"):
        presets = smm.presets
    assert presets.ABAW3 is smm.ABAW3
    sys.modules.pop("smm.presets", None)
    smm.__dict__.pop("presets", None)
    with pytest.raises(AttributeError, match=r"module 'smm' has no attribute 'nothing'"):
        smm.nothing


def test_no_package_file_is_ignored_by_git() -> None:
    """A fresh clone has every module the tests import: no file of the package matches .gitignore (a
    pattern like ``runs/`` once hid ``smm/runs/`` from every clone)."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "smm").rglob("*")) if path.is_file()]
    files = [name for name in files if "__pycache__" not in name]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(files),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout.split() == []
