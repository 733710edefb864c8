"""The page's ES-module tiler (`keras_enlca/web/static/tiler.js`) under node,
against the Python tiler (`keras_enlca.inference.tiling`): the same tile grid,
overlap, edge tiles, padding and blend weights, and the same output bytes for
the same tile outputs."""

import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from keras_enlca.inference.tiling import TiledUpscaler
from keras_enlca.inference.tiling import _axis_plan
from keras_enlca.inference.tiling import tile_settings

NODE = shutil.which("node")
CASES_SCRIPT = pathlib.Path(__file__).with_name("tiler_cases.mjs")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# (height, width, tile, overlap, scale): sides that are and are not multiples
# of the tile, images smaller than the tile (one padded tile), one-pixel
# sides, overlaps from 0 to the largest allowed, rectangular tiles, and the
# .5 cases of numpy.linspace that Python's round() takes to the even side.
GRID_CASES = [
    (50, 75, (32, 32), None, 2),
    (64, 64, (32, 32), None, 2),
    (20, 70, (32, 32), None, 3),
    (1, 1, (32, 32), None, 4),
    (129, 97, (64, 64), 8, 2),
    (1000, 37, (128, 128), None, 2),
    (300, 301, (128, 96), 0, 2),
    (255, 257, (128, 128), 63, 2),
    (33, 97, (16, 16), 7, 4),
    (4000, 3000, (256, 256), None, 2),
    (117, 51, (17, 19), 5, 3),
]
# Cases that also run a whole image through both tilers.
IMAGE_CASES = [
    (50, 75, (32, 32), None, 2),
    (20, 70, (32, 32), None, 3),
    (45, 33, (16, 16), 5, 2),
    (40, 40, (24, 20), 0, 2),
]


def run_node(cases):
    payload = []
    for height, width, tile, overlap, scale, image in cases:
        payload.append(
            {
                "height": height,
                "width": width,
                "tile": list(tile),
                "overlap": overlap,
                "scale": scale,
                "image": None if image is None else image.reshape(-1).tolist(),
            }
        )
    done = subprocess.run(
        [NODE, str(CASES_SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def fake_model(scale):
    """The Python twin of `fakeModel` in tiler_cases.mjs (float32 throughout)."""

    def fn(batch):
        _, height, width, _ = batch.shape
        out_h, out_w = height * scale, width * scale
        i = np.arange(out_h)[:, None]
        j = np.arange(out_w)[None, :]
        ramp = ((i + 2 * j) / (3 * out_h * out_w)).astype(np.float32)
        up = np.repeat(np.repeat(batch, scale, axis=1), scale, axis=2)
        return up * np.float32(0.5) + ramp[None, :, :, None]

    return fn


def test_grid_and_weights_match_the_python_tiler():
    results = run_node([case + (None,) for case in GRID_CASES])
    for (height, width, tile, overlap, scale), result in zip(GRID_CASES, results):
        assert "error" not in result, (height, width, tile, result.get("error"))
        pair, expected_overlap = tile_settings(tile, overlap, min_tile=1)
        assert result["overlap"] == expected_overlap
        for axis, length, side in (("rows", height, pair[0]), ("cols", width, pair[1])):
            starts, size, weights = _axis_plan(length, side, expected_overlap, scale)
            assert result[axis]["starts"] == starts, (axis, length, side)
            assert result[axis]["size"] == size
            assert len(result[axis]["weights"]) == len(weights)
            for js, py in zip(result[axis]["weights"], weights):
                np.testing.assert_array_equal(np.asarray(js, np.float32), py)
        upscaler = TiledUpscaler(
            lambda x: x, scale, tile=tile, overlap=overlap, fixed_tile_shape=True
        )
        assert [tuple(t) for t in result["tiles"]] == upscaler.plan(height, width)


def test_grid_edges_cover_the_image_with_the_overlap():
    # 1000 x 37 with 128-pixel tiles: the last row of tiles ends on the
    # bottom edge, the narrow side is one tile of 37 pixels.
    result = run_node([(1000, 37, (128, 128), None, 2, None)])[0]
    rows = result["rows"]["starts"]
    assert rows[0] == 0 and rows[-1] == 1000 - 128
    assert min(b - a for a, b in zip(rows, rows[1:])) <= 128 - 32
    assert result["cols"] == {
        "starts": [0],
        "size": 37,
        "weights": [[1.0] * 74],
    }


def test_bad_overlap_is_an_error():
    # Half the tile or more, as `tile_settings` refuses it.
    results = run_node(
        [(50, 50, (32, 32), 16, 2, None), (50, 50, (32, 32), 15, 2, None)]
    )
    assert results[0]["error"].startswith("overlap 16: must be >= 0 and smaller than")
    assert "error" not in results[1] and results[1]["overlap"] == 15


@pytest.mark.parametrize("height,width,tile,overlap,scale", IMAGE_CASES)
def test_upscaled_bytes_equal_the_python_tiler(height, width, tile, overlap, scale):
    rng = np.random.default_rng(height * 1000 + width)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    result = run_node([(height, width, tile, overlap, scale, image)])[0]
    assert "error" not in result, result.get("error")
    js = np.asarray(result["output"], np.uint8).reshape(
        height * scale, width * scale, 4
    )
    upscaler = TiledUpscaler(
        fake_model(scale),
        scale,
        tile=tile,
        overlap=overlap,
        fixed_tile_shape=True,
        dtype="uint8",
    )
    python = upscaler(image)
    np.testing.assert_array_equal(js[..., 3], 255)
    # The same float32 products and sums in the same order: the same bytes.
    np.testing.assert_array_equal(js[..., :3], python)
    total = len(upscaler.plan(height, width))
    assert result["progress"] == [[i, total] for i in range(1, total + 1)]
