"""The API reference pages, generated from the package's namespaces.

Every public name of every namespace in `NAMESPACES` gets a section rendered
by mkdocstrings from its docstring. Public names are read from the source,
as the package declares them: a namespace's `__all__`, else its lazy
`EXPORTS` table (`keras_enlca.utils.lazy_exports`), else the names its
`__init__.py` imports (submodules excluded) or, for a plain module, defines.
Nothing here imports the package, so the reference needs no TensorFlow.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "keras_enlca"
# (namespace, one-line description) in the order of the reference's pages
NAMESPACES = (
    ("layers", "Attention layers and building blocks"),
    ("models", "Networks, presets and the family registry"),
    ("training", "Training: callbacks, schedule, strategies, runs"),
    ("data", "Images, MATLAB bicubic, datasets and pipelines"),
    ("evaluation", "Paper-faithful PSNR/SSIM, chop, self-ensemble, figures"),
    ("inference", "Runners for every model format, the tiler, upscaling files"),
    ("export", "SavedModel and TFLite export"),
    ("convert", "Importing the authors' PyTorch checkpoints"),
    ("visualization", "Attention maps (ENLCA paper, Figure 1)"),
    ("errors", "The error types a user can meet"),
)
# Subpackages that are implementation, not API (the CLI has its own page).
INTERNAL = ("cli", "utils", "version")


def _source_path(namespace):
    base = os.path.join(ROOT, PACKAGE, *namespace.split("."))
    if os.path.isdir(base):
        return os.path.join(base, "__init__.py"), True
    return base + ".py", False


def _is_submodule(module, name):
    base = os.path.join(ROOT, *module.split("."), name)
    return os.path.isdir(base) or os.path.exists(base + ".py")


def _literal(tree, target):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == target for t in node.targets
        ):
            try:
                return ast.literal_eval(node.value)
            except ValueError:  # e.g. __all__ = sorted(EXPORTS)
                return None
    return None


def public_names(namespace):
    """`{public name: the module defining it}` of `keras_enlca.<namespace>`."""
    path, is_package = _source_path(namespace)
    full = f"{PACKAGE}.{namespace}"
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    exports = _literal(tree, "EXPORTS") or {}
    names = {n: (m if "." in m else f"{full}.{m}") for n, m in exports.items()}
    for node in [] if exports else tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = alias.asname or alias.name
                if not name.startswith("_") and not _is_submodule(node.module, name):
                    names.setdefault(name, node.module)
        elif not is_package and isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            if not node.name.startswith("_"):
                names.setdefault(node.name, full)
        elif not is_package and isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and not target.id.startswith("_"):
                    names.setdefault(target.id, full)
    declared = _literal(tree, "__all__")
    if declared is not None:
        names = {n: names.get(n, full) for n in declared}
    if not is_package:
        names = {n: m for n, m in names.items() if m == full}
    return dict(sorted(names.items(), key=lambda item: item[0].lower()))


def _module_docstring(namespace):
    path, _ = _source_path(namespace)
    with open(path, encoding="utf-8") as f:
        return ast.get_docstring(ast.parse(f.read())) or ""


def page(namespace, description):
    """The Markdown of one namespace's reference page."""
    full = f"{PACKAGE}.{namespace}"
    names = public_names(namespace)
    lines = [f"# `{full}`", "", f"{description}.", ""]
    doc = _module_docstring(namespace)
    if doc:
        lines += [doc, ""]
    lines += [f"Public names ({len(names)}): "]
    lines += [", ".join(f"[`{n}`](#{full}.{n})" for n in names), ""]
    for name, module in names.items():
        lines += [
            f"## `{full}.{name}` {{ #{full}.{name} }}",
            "",
            f"::: {module}.{name}",
            "    options:",
            "      show_root_heading: false",
            "      heading_level: 3",
            "",
        ]
    return "\n".join(lines)


def pages():
    """`{"reference/<namespace>.md": markdown}` for every namespace, plus an index."""
    result = {}
    index = ["# API reference", "", "| namespace | names | what |", "|---|---|---|"]
    for namespace, description in NAMESPACES:
        result[f"reference/{namespace}.md"] = page(namespace, description)
        count = len(public_names(namespace))
        index.append(
            f"| [`{PACKAGE}.{namespace}`]({namespace}.md) | {count} | {description} |"
        )
    index += [
        "",
        "The command line: [`enlca` --help texts](cli.md).",
        "",
        "Generated at build time from the namespaces' `__all__` / lazy `EXPORTS`"
        " tables and the docstrings (`docs/scripts/api_pages.py`).",
    ]
    result["reference/index.md"] = "\n".join(index)
    return result
