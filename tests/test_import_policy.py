"""The package's import rules, read from the source (in the manner of
keras-hub's import tests).

1. Layers: a subpackage imports only from the layers below it (or from
   itself), at module level or inside functions alike; nothing imports
   `cli`:

       errors, version  <-  utils  <-  data  <-  layers  <-  models  <-
       inference, visualization  <-  evaluation  <-  training, export,
       convert, web  <-  cli

   (`inference` runs models of every format and tiles; `evaluation` runs
   Keras models through it, `export` verifies its artifacts with its
   runners, `training` validates with `evaluation`; `training`, `export`
   and `convert` do not import one another; `web`, the browser upscaler's
   server, reads export metadata through `inference`.)
2. The TensorFlow-free runtime (`enlca upscale/info/score` on `.tflite`):
   its modules, and everything they import at module level, import no
   TensorFlow-bound package at module level.
3. No cycles: the graph of the package's module imports (at module level
   and inside functions alike) has none, so that no import needs to hide
   in a function to work, and a shared piece lives below what uses it.
"""

import ast
import itertools
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_enlca"

LEVELS = {
    "errors": 0,
    "version": 0,
    "utils": 1,
    "data": 2,
    "layers": 3,
    "models": 4,
    "visualization": 5,
    "inference": 5,
    "evaluation": 6,
    "training": 7,
    "export": 7,
    "convert": 7,
    "web": 7,
    "cli": 8,
}

# Installed only by the [cpu]/[gpu]/[torch] extras.
TENSORFLOW_BOUND = ("tensorflow", "keras", "tensorboard", "yaml", "torch")

# What the TensorFlow-free commands load (the closure of their module-level
# imports is added by the test).
RUNTIME_MODULES = (
    "keras_enlca",
    "keras_enlca.cli.main",
    "keras_enlca.cli.upscale",
    "keras_enlca.cli.upscale_ray",
    "keras_enlca.inference.ray_upscale",
    "keras_enlca.inference.ray_upscale_worker",
    "keras_enlca.cli.info",
    "keras_enlca.cli.score",
    "keras_enlca.cli.web",
    "keras_enlca.web.web_server",
    "keras_enlca.inference.loader",
    "keras_enlca.inference.model_runner",
    "keras_enlca.inference.litert_runner",
    "keras_enlca.inference.onnx_runner",
    "keras_enlca.inference.artifact_format",
    "keras_enlca.inference.model_info",
    "keras_enlca.inference.upscale_files",
    "keras_enlca.inference.metadata",
    "keras_enlca.inference.tflite_flatbuffer",
    "keras_enlca.inference.tiling",
    "keras_enlca.evaluation.scoring",
    "keras_enlca.evaluation.metrics",
    "keras_enlca.data.io",
    "keras_enlca.data.datasets",
    "keras_enlca.data.matching",
)


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name, module_level_only=False):
    """`(imported module, line)` of every import in module `name`.

    `from package import name` counts as an import of the submodule
    `package.name` where there is one, else of `package`.

    `module_level_only`: only what runs when the module is imported (not
    inside function bodies; class bodies and `if`/`try` blocks count).
    """
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            ):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                # `from keras_enlca.inference import model_runner` imports a submodule.
                targets = [f"{child.module}.{alias.name}" for alias in child.names]
                targets = [t if t in MODULES else child.module for t in targets]
                found.extend((t, child.lineno) for t in dict.fromkeys(targets))
            visit(child)

    visit(tree)
    return found


def subpackage(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_subpackage_has_a_level():
    assert {subpackage(n) for n in MODULES if subpackage(n)} == set(LEVELS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_flow_one_way(name):
    source = subpackage(name)
    if source is None:
        return  # keras_enlca/__init__.py loads subpackages by name, lazily
    wrong = []
    for target, line in imports(name):
        if not target.startswith("keras_enlca."):
            continue
        destination = subpackage(target)
        if destination == source:
            continue
        if destination == "cli" or LEVELS[destination] >= LEVELS[source]:
            wrong.append(f"line {line}: {target}")
    assert not wrong, f"{name} imports upwards or sideways: {wrong}"


def runtime_closure():
    """RUNTIME_MODULES, their parent packages and their module-level imports."""
    todo, seen = list(RUNTIME_MODULES), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(t for t, _ in imports(name, module_level_only=True))
    return sorted(seen)


def test_runtime_modules_exist():
    missing = [n for n in RUNTIME_MODULES if n not in MODULES]
    assert not missing


@pytest.mark.parametrize("name", runtime_closure())
def test_runtime_imports_no_tensorflow_at_module_level(name):
    heavy = [
        f"line {line}: {target}"
        for target, line in imports(name, module_level_only=True)
        if target.split(".")[0] in TENSORFLOW_BOUND
    ]
    assert not heavy, f"{name} is on the TensorFlow-free path: {heavy}"


def import_graph():
    """Module -> {keras_enlca module it imports: first line}, all imports.

    A package's `__init__` is not an edge of its submodules' imports: Python
    runs it first, and it is in `sys.modules` while they load.
    """
    graph = {}
    for name in MODULES:
        edges = graph.setdefault(name, {})
        for target, line in imports(name):
            if target in MODULES and target != name:
                edges.setdefault(target, line)
    return graph


def find_cycle(graph):
    """One cycle of `graph` as `[a, b, ..., a]`, or None."""
    on_path, done, path = set(), set(), []

    def visit(name):
        on_path.add(name)
        path.append(name)
        for target in sorted(graph.get(name, ())):
            if target in on_path:
                return path[path.index(target) :] + [target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        on_path.discard(name)
        path.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        if name not in done:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        steps = [f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(cycle)]
        pytest.fail("import cycle: " + " -> ".join(steps + [cycle[-1]]))


def test_find_cycle():
    assert find_cycle({"a": {"b": 1, "c": 1}, "b": {"d": 1}, "c": {"d": 1}}) is None
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"b": 1}}) == ["b", "c", "b"]
    assert find_cycle({"a": {"a": 1}}) == ["a", "a"]


def test_the_rules_catch_a_violation(tmp_path, monkeypatch):
    # The checks above read real files; this one proves they can fail.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import numpy\nimport tensorflow as tf\n"
        "def f():\n    from keras_enlca.cli import main\n"
    )
    monkeypatch.setitem(MODULES, "keras_enlca.data.bad", bad)
    assert imports("keras_enlca.data.bad", module_level_only=True) == [
        ("numpy", 1),
        ("tensorflow", 2),
    ]
    with pytest.raises(AssertionError, match="keras_enlca.cli"):
        test_imports_flow_one_way("keras_enlca.data.bad")
    with pytest.raises(AssertionError, match="tensorflow"):
        test_runtime_imports_no_tensorflow_at_module_level("keras_enlca.data.bad")
    # A cycle closed by an import inside a function is still one.
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text("from keras_enlca.data import second\n")
    second.write_text("def f():\n    from keras_enlca.data.first import f\n")
    monkeypatch.setitem(MODULES, "keras_enlca.data.first", first)
    monkeypatch.setitem(MODULES, "keras_enlca.data.second", second)
    with pytest.raises(
        pytest.fail.Exception,
        match=r"keras_enlca.data.first \(line 1\) -> keras_enlca.data.second "
        r"\(line 2\) -> keras_enlca.data.first$",
    ):
        test_no_import_cycles()
