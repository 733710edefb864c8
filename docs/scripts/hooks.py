"""MkDocs hooks: the generated parts of the site.

- `reference/*.md`: the API reference (`api_pages.py`) and the CLI's
  `--help` texts (`cli_pages.py`), generated from the source on every build.
- `generated/*.png`: the pictures `figures.py` draws with the package from
  the bundled photos. They are cached in `build/docs-figures/` and redrawn
  whenever `figures.py` or any file of the package changes (a fresh clone,
  as in CI, always draws them).
- `<!-- benchmark: NAME -->` in a page becomes the table of
  `benchmarks/published/NAME.json`; `{{ figures.KEY.KEY }}` becomes a value
  of the pictures' record `figures.json`. An unknown name fails the build.
"""

import hashlib
import json
import os
import re
import subprocess
import sys

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(SCRIPTS))
sys.path.insert(0, SCRIPTS)

import api_pages  # noqa: E402 - the scripts folder is put on the path above
import benchmark_tables  # noqa: E402
import cli_pages  # noqa: E402

FIGURES_CACHE = os.path.join(ROOT, "build", "docs-figures")
BENCHMARK = re.compile(r"<!--\s*benchmark:\s*([\w-]+)\s*-->")
FIGURE_VALUE = re.compile(r"\{\{\s*figures\.([\w.]+)\s*\}\}")
_record = {}


def _sources_digest():
    digest = hashlib.sha256()
    paths = [os.path.join(SCRIPTS, "figures.py")]
    for folder, _, files in sorted(os.walk(os.path.join(ROOT, "keras_enlca"))):
        paths += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".py")]
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def draw_figures(out_dir=FIGURES_CACHE):
    """Runs `figures.py` into `out_dir` unless its pictures are current."""
    stamp_path = os.path.join(out_dir, "stamp")
    stamp = _sources_digest()
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if f.read() == stamp:
                return
    script = os.path.join(SCRIPTS, "figures.py")
    done = subprocess.run([sys.executable, script, out_dir], capture_output=True)
    if done.returncode != 0:
        raise PluginError(f"figures.py failed:\n{done.stderr.decode()[-3000:]}")
    with open(stamp_path, "w") as f:
        f.write(stamp)


def on_pre_build(config):
    draw_figures()
    with open(os.path.join(FIGURES_CACHE, "figures.json")) as f:
        _record.clear()
        _record.update(json.load(f))


def on_files(files, config):
    for uri, content in {
        **api_pages.pages(),
        "reference/cli.md": cli_pages.page(),
    }.items():
        files.append(File.generated(config, uri, content=content))
    for name in sorted(os.listdir(FIGURES_CACHE)):
        if name.endswith(".png"):
            path = os.path.join(FIGURES_CACHE, name)
            files.append(File.generated(config, f"generated/{name}", abs_src_path=path))
    return files


def _figure_value(match):
    value = _record
    for key in match.group(1).split("."):
        if not isinstance(value, dict) or key not in value:
            raise PluginError(f"figures.json has no {match.group(1)!r}")
        value = value[key]
    return str(value)


def on_page_markdown(markdown, page, config, files):
    markdown = BENCHMARK.sub(lambda m: benchmark_tables.table(m.group(1)), markdown)
    return FIGURE_VALUE.sub(_figure_value, markdown)
