"""The site builds in strict mode, with every generated part in it.

Builds the whole site once (`mkdocs build --strict`: a broken link or
anchor, a missing API name, a docstring cross-reference that does not
resolve or a failing picture script fails it) into a temporary folder and
checks what the hooks generated. Needs the `[docs]` extra; CI installs it.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.docs.scripts import ROOT
from tests.docs.scripts import load

pytest.importorskip("mkdocs", reason="the [docs] extra is not installed")
pytest.importorskip("mkdocstrings", reason="the [docs] extra is not installed")
pytest.importorskip("material", reason="the [docs] extra is not installed")

api_pages = load("api_pages")
figures = load("figures")
benchmark_tables = load("benchmark_tables")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    return out


def read(site, *parts):
    with open(os.path.join(site, *parts), encoding="utf-8") as f:
        return f.read()


def test_every_public_name_has_an_anchor_in_the_built_reference(site):
    missing = []
    for namespace, _ in api_pages.NAMESPACES:
        html = read(site, "reference", namespace, "index.html")
        for name in api_pages.public_names(namespace):
            if f'id="keras_enlca.{namespace}.{name}"' not in html:
                missing.append(f"keras_enlca.{namespace}.{name}")
    assert missing == []


def test_docstrings_are_rendered_not_just_headings(site):
    html = read(site, "reference", "layers", "index.html")
    # one rendered docstring per public name (11 layers), with their sections
    names = api_pages.public_names("layers")
    assert html.count('class="doc doc-contents first"') >= len(names) == 11
    assert html.count("Call arguments") >= 10
    assert "num_random_features" in html  # an argument of ENLCA's Args


def test_cli_page_has_every_commands_help(site):
    html = read(site, "reference", "cli", "index.html")
    for command in ("demo", "train", "eval", "score", "export", "upscale", "info"):
        assert f"Usage: enlca {command} [OPTIONS]" in html
    for command in ("attention", "convert"):
        assert f"Usage: enlca {command} [OPTIONS]" in html


def test_benchmark_tables_come_from_the_json(site):
    html = read(site, "benchmarks", "index.html")
    for name in ("attention", "training_small", "export", "export_converged"):
        figures_json = benchmark_tables.load(name)
        first = figures_json["rows"][0]
        assert all(str(cell) in html for cell in first if cell), name
    assert "<!-- benchmark:" not in html


def test_pictures_exist_with_their_sizes_and_panels(site):
    from keras_enlca.data import read_image

    folder = os.path.join(site, "generated")
    record = json.loads(read(ROOT, "build", "docs-figures", "figures.json"))
    for name in figures.FIGURES:
        image = read_image(os.path.join(folder, name))
        assert list(image.shape[:2]) == record[name], name
    # geometry of the script's settings: 5 panels of 288 px (the 96-px crop at
    # display size) in one row; 4 comparison crops; two 252x168 panels
    assert record["attention.png"] == [326, 1488]
    assert record["comparison.png"][1] == 1160
    assert record["tiled.png"] == [206, 528]
    # attention: the input and one panel per layer (ENLCA: approximation and
    # exact), 96-pixel crop shown at display size, in one row of five
    attention = read_image(os.path.join(folder, "attention.png"))
    assert record["attention"]["layers"] == ["nla", "nlsa", "enlca"]
    assert panel_count(attention) == 5
    comparison = read_image(os.path.join(folder, "comparison.png"))
    assert panel_count(comparison) == 4  # LR, bicubic, SR, HR
    tiled = read_image(os.path.join(folder, "tiled.png"))
    assert panel_count(tiled) == 2  # before, after
    assert record["tiled"]["sr"] == [2 * s for s in record["tiled"]["lr"]]


def test_pages_quote_the_pictures_record(site):
    html = read(site, "guides", "attention-maps", "index.html")
    record = json.loads(read(ROOT, "build", "docs-figures", "figures.json"))
    assert f"{record['train_steps']} steps" in html
    assert "{{" not in html
    assert str(record["comparison"]["psnr"]) in html


def panel_count(image):
    """Panels in a `panel_grid` picture's first row: runs of non-white columns."""
    white = np.all(image >= 250, axis=2)
    rows = np.where(~white.all(axis=1))[0]
    band = image[rows[len(rows) // 2] - 5 : rows[len(rows) // 2] + 5]
    columns = ~np.all(band >= 250, axis=(0, 2))
    edges = np.flatnonzero(np.diff(columns.astype(int)) == 1)
    return len(edges) + int(columns[0])


def test_panel_count_counts_panels():
    image = np.full((40, 100, 3), 255, np.uint8)
    for x in (5, 40, 75):
        image[10:30, x : x + 20] = 10
    assert panel_count(image) == 3
