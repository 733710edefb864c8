"""The page of `enlca web` in real headless Chromium with real LiteRT.js.

A user's path, driven over the DevTools protocol (`tests/web/chromium.py`):
the page served by `WebServer`, photos put into its file input, the result
read back from its download link. Skips where Debian's Chromium or the
LiteRT.js npm install is absent (CI installs both in `.ci/run`).
"""

import base64
import contextlib
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.inference.litert_runner import LiteRTRunner
from keras_enlca.inference.tiling import upscale_tiled
from keras_enlca.inference.upscale_files import tiling_for
from keras_enlca.web.litertjs import find_litertjs
from keras_enlca.web.web_server import WebServer
from tests.export import artifacts
from tests.web.chromium import Chromium
from tests.web.chromium import chromium_path

LITERTJS, LITERTJS_PROBLEM = find_litertjs()
pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="no Chromium (apt install chromium)"
)
needs_litertjs = pytest.mark.skipif(LITERTJS is None, reason=str(LITERTJS_PROBLEM))
TILE = (32, 32)
# Sides that are not multiples of the tile (nor of each other).
PHOTO_SIZE = (45, 71)
FINISHED = (
    "[...document.querySelectorAll('.card')].length >= {n} && "
    "[...document.querySelectorAll('.card')].every("
    "c => c.dataset.state === 'done' || c.dataset.state === 'error')"
)


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


@contextlib.contextmanager
def serve(models, **options):
    if LITERTJS is not None:
        options.setdefault("litertjs", LITERTJS["core"].parents[2])
    server = WebServer(models, port=0, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def open_page(browser, server, query=""):
    page = browser.new_page(server.url + query)
    page.wait_for(
        "document.body.dataset.ready === 'true' || "
        "!document.getElementById('runtime-error').hidden",
        timeout=60,
    )
    return page


def text_of(page, selector):
    return page.evaluate(
        f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"
    )


def upload(page, paths, timeout=60):
    """Puts photos into the page's file input; returns each card's state/text."""
    page.set_files("#photos", [str(p) for p in paths])
    page.wait_for(FINISHED.format(n=len(paths)), timeout=timeout)
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.card')].map(c => "
        "[c.dataset.name, {state: c.dataset.state, "
        "error: c.querySelector('.error').textContent, text: c.innerText}]))"
    )


def downloaded_png(page, name):
    """The bytes behind a card's download link, decoded."""
    data_url = page.evaluate(
        "(async () => { const a = document.querySelector("
        f"'.card[data-name={json.dumps(name)}] a.download');"
        "const blob = await (await fetch(a.href)).blob();"
        "return await new Promise(r => { const f = new FileReader();"
        "f.onload = () => r(f.result); f.readAsDataURL(blob); }); })()"
    )
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    image = read_image(sample_image_paths()[0])
    crop = image[10 : 10 + PHOTO_SIZE[0], 20 : 20 + PHOTO_SIZE[1]]
    path = tmp_path_factory.mktemp("photos") / "photo.png"
    Image.fromarray(crop).save(path)
    return path


def python_tiled(model_path, photo_path):
    """What `enlca upscale` makes of the photo: the Python LiteRT tiler."""
    runner = LiteRTRunner(model_path)
    tile, overlap, fixed = tiling_for(runner)
    image = read_image(photo_path)
    return upscale_tiled(
        runner,
        image,
        runner.scale,
        tile=tile,
        overlap=overlap,
        fixed_tile_shape=fixed,
        dtype="uint8",
    )


@pytest.mark.parametrize("quantize", ["none", "float16", "int8"])
@needs_litertjs
@pytest.mark.slow
def test_page_matches_the_python_litert_tiler(browser, photo, quantize):
    model = artifacts.artifact("enlcn", quantize, tile=TILE)
    with serve([model]) as server:
        page = open_page(browser, server, "?model=0")
        status = text_of(page, "#model-status")
        assert "x2, tile 32x32" in status, (status, text_of(page, "#model-error"))
        cards = upload(page, [photo])
        assert cards["photo.png"]["state"] == "done", cards
        browser_sr = downloaded_png(page, "photo.png")
    python_sr = python_tiled(model, photo)
    assert (
        browser_sr.shape == python_sr.shape == (PHOTO_SIZE[0] * 2, PHOTO_SIZE[1] * 2, 3)
    )
    difference = np.abs(browser_sr.astype(int) - python_sr.astype(int))
    assert difference.max() <= 1, (quantize, difference.max(), difference.mean())
    # The before/after slider and the per-image tile count are on the card.
    # 32-pixel tiles, overlap 15: ceil((45 - 15) / 17) = 2 rows of
    # ceil((71 - 15) / 17) = 4 tiles.
    assert "71x45 → 142x90 (x2) in " in cards["photo.png"]["text"]
    assert ", 8 tiles of 32x32, with " in cards["photo.png"]["text"]
    assert page.evaluate("document.querySelectorAll('.compare img').length") == 2


@needs_litertjs
def test_non_image_file_is_a_clear_message(browser, tmp_path):
    model = artifacts.artifact("enlcn", "int8", tile=TILE)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with serve([model]) as server:
        page = open_page(browser, server, "?model=0")
        cards = upload(page, [notes, fake])
    for name in ("notes.txt", "fake.png"):
        assert cards[name]["state"] == "error"
        assert cards[name]["error"].startswith(
            f"{name}: not an image this browser can decode"
        ), cards[name]
        assert "use PNG, JPEG, WebP" in cards[name]["error"]


@needs_litertjs
def test_image_over_the_memory_budget_is_a_clear_message(browser, tmp_path):
    model = artifacts.artifact("enlcn", "int8", tile=TILE)
    big = tmp_path / "big.png"
    Image.new("RGB", (900, 700), (40, 90, 160)).save(big)
    with serve([model], memory_budget_mb=16) as server:
        page = open_page(browser, server, "?model=0")
        cards = upload(page, [big])
    error = cards["big.png"]["error"]
    assert cards["big.png"]["state"] == "error"
    assert error.startswith(
        "big.png: too large for the page's memory budget: 900x700 upscaled x2 is "
        "1800x1400 and needs about "
    ), error
    assert "over the 16 MiB budget" in error and "--memory-budget" in error


@needs_litertjs
def test_any_size_export_is_refused_with_the_fix(browser, photo):
    model = artifacts.artifact("enlcn", "none")  # input [1, -1, -1, 3]
    with serve([model]) as server:
        page = open_page(browser, server, "?model=0")
        page.wait_for("!document.getElementById('model-error').hidden")
        error = text_of(page, "#model-error")
        cards = upload(page, [photo])
    assert error.startswith("enlcn_none.tflite: this model takes any image size")
    assert "LiteRT.js cannot resize an input" in error
    assert "--target web" in error and "--input-size 128 128" in error
    assert cards["photo.png"]["state"] == "error"
    assert "no model to upscale with" in cards["photo.png"]["error"]


def test_missing_litertjs_says_what_to_install(browser, tmp_path, photo):
    with serve([], litertjs=tmp_path) as server:
        page = open_page(browser, server)
        error = text_of(page, "#runtime-error")
        disabled = page.evaluate("document.getElementById('photos').disabled")
    assert error.startswith("LiteRT.js is missing, so nothing can be upscaled yet.")
    assert "npm install --prefix " in error and "@litertjs/core@2.5.3" in error
    assert disabled is True


@needs_litertjs
def test_webgpu_backend_when_the_browser_has_an_adapter(photo):
    # Headless Chromium offers WebGPU only with --enable-unsafe-webgpu (a
    # SwiftShader adapter on a machine without a GPU).
    model = artifacts.artifact("enlcn", "none", tile=TILE)
    with Chromium(webgpu=True) as chromium, serve([model]) as server:
        page = open_page(chromium, server, "?model=0&backend=webgpu")
        if page.evaluate("document.getElementById('backend').options[1].disabled"):
            pytest.skip("this Chromium has no WebGPU adapter")
        status = text_of(page, "#model-status")
        runtime = text_of(page, "#runtime-status")
        cards = upload(page, [photo], timeout=120)
        browser_sr = downloaded_png(page, "photo.png")
    assert "on webgpu" in status, (status, runtime)
    # The JSPI build: ops without a WebGPU kernel fall back to WASM.
    assert "litert_wasm_jspi_internal.wasm" in runtime
    assert cards["photo.png"]["state"] == "done", cards
    difference = np.abs(browser_sr.astype(int) - python_tiled(model, photo).astype(int))
    # SwiftShader here: 1 grey level at most (in one value of 19,170).
    assert difference.max() <= 1, (difference.max(), difference.mean())
