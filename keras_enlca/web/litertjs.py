"""Where the LiteRT.js files come from (`@litertjs/core` and its one dependency).

They are not in the wheel: the four WASM builds weigh ~9.4 MB each (38 MB
with the JavaScript), more than the rest of the package many times over, and
they change with LiteRT.js releases, not with this project. A user installs
them once, with npm, into a folder `enlca web` looks in (`install_command`);
after that everything works offline. The page says what is missing, and how
to get it, when they are not there.
"""

import json
import os
import pathlib

# The LiteRT.js release the page and the tests are checked with.
LITERTJS_VERSION = "2.5.3"
CORE_PACKAGE = "@litertjs/core"
UTILS_PACKAGE = "@litertjs/wasm-utils"
# Environment variable naming a folder that holds node_modules/@litertjs/...
LITERTJS_ENV = "ENLCA_LITERTJS"
# The files the page loads from each package (relative to the package folder).
REQUIRED_FILES = {
    CORE_PACKAGE: ("dist/index.js", "wasm/litert_wasm_internal.js"),
    UTILS_PACKAGE: ("dist/index.js",),
}


def default_install_dir():
    """`~/.cache/keras-enlca/litertjs` (or under `$XDG_CACHE_HOME`)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return pathlib.Path(cache) / "keras-enlca" / "litertjs"


def install_command(folder=None):
    """The one-time shell command that puts LiteRT.js where `enlca web` looks."""
    folder = folder or default_install_dir()
    return f"npm install --prefix {folder} {CORE_PACKAGE}@{LITERTJS_VERSION}"


def candidate_dirs(explicit=None):
    """Folders searched, in order: `--litertjs`, `$ENLCA_LITERTJS`, the cache, `.`."""
    if explicit:
        return [pathlib.Path(explicit)]
    folders = []
    if os.environ.get(LITERTJS_ENV):
        folders.append(pathlib.Path(os.environ[LITERTJS_ENV]))
    folders += [default_install_dir(), pathlib.Path.cwd()]
    return folders


def _package_dir(folder, package):
    """`folder/node_modules/<package>` (or `folder` itself being node_modules)."""
    for base in (folder / "node_modules", folder):
        path = base / package
        if (path / "package.json").is_file():
            return path
    return None


def _version(package_dir):
    try:
        with open(package_dir / "package.json", encoding="utf-8") as f:
            return str(json.load(f).get("version"))
    except (OSError, ValueError):
        return None


def find_litertjs(explicit=None):
    """The LiteRT.js package folders, or what is missing.

    Args:
        explicit: a folder the user named (`enlca web --litertjs DIR`): the
            `--prefix` of the npm install, or its `node_modules`.

    Returns:
        `(found, problem)`: `found` is `{"core": Path, "utils": Path,
        "version": str}` and `problem` None, or `found` is None and `problem`
        one sentence naming what is missing and the command that fixes it.
    """
    searched = candidate_dirs(explicit)
    for folder in searched:
        core = _package_dir(folder, CORE_PACKAGE)
        if core is None:
            continue
        utils = _package_dir(folder, UTILS_PACKAGE)
        if utils is None:  # npm may nest it under the core package
            utils = _package_dir(core, UTILS_PACKAGE)
        missing = [
            f"{package}/{name}"
            for package, path in ((CORE_PACKAGE, core), (UTILS_PACKAGE, utils))
            for name in REQUIRED_FILES[package]
            if path is None or not (path / name).is_file()
        ]
        if missing:
            return None, (
                f"LiteRT.js in {folder} is incomplete (missing "
                f"{', '.join(missing)}); reinstall it: {install_command(folder)}"
            )
        return {"core": core, "utils": utils, "version": _version(core)}, None
    where = ", ".join(str(f) for f in searched)
    return None, (
        f"LiteRT.js ({CORE_PACKAGE}) is not installed (looked in {where}); "
        f"install it once with: {install_command()}"
    )
