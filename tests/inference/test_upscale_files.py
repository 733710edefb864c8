import os

import numpy as np
import pytest

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import write_image
from keras_enlca.errors import InputError
from keras_enlca.inference.loader import open_runner
from keras_enlca.inference.upscale_files import plan_outputs
from keras_enlca.inference.upscale_files import tiling_for
from keras_enlca.inference.upscale_files import upscale_file
from tests.export.artifacts import artifact
from tests.export.artifacts import tiny_model


class Recording:
    """Wraps a runner and records the largest input it was given."""

    def __init__(self, runner):
        self.runner = runner
        self.scale = runner.scale
        self.input_size = runner.input_size
        self.path = runner.path
        self.largest = (0, 0)

    def __call__(self, images):
        self.largest = max(self.largest, tuple(np.shape(images)[1:3]))
        return self.runner(images)


def test_an_image_larger_than_a_tile_is_tiled_seamlessly(tmp_path):
    """A conv-only model gives exactly its whole-image output through the tiler.

    The tiny EDSR's receptive field reaches 6 LR pixels; with overlap 28 the
    blend ramps sit where every tile has full context (see TiledUpscaler).
    """
    source = tmp_path / "in" / "photo.png"
    image = read_image(sample_image_paths()[2])[:90, :130]
    write_image(source, image)
    runner = Recording(open_runner(artifact("edsr", "none")))
    out = tmp_path / "out" / "photo.png"
    assert upscale_file(runner, source, out, tile=64, overlap=28) == (180, 260)
    assert runner.largest == (64, 64)  # memory: never more than one tile
    tiled = read_image(out)
    model, _ = tiny_model("edsr")
    whole = model.predict(image[None].astype(np.float32) / 255, verbose=0)[0]
    whole = np.floor(np.clip(whole, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.abs(tiled.astype(int) - whole).max() <= 1
    assert np.mean(tiled != whole) < 1e-3


def test_output_keeps_name_and_format(tmp_path):
    source = tmp_path / "photo.jpg"
    write_image(source, read_image(sample_image_paths()[0])[:30, :40])
    runner = open_runner(artifact("edsr", "none"))
    out = tmp_path / "out" / "photo.jpg"
    upscale_file(runner, source, out)
    with open(out, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"  # still a JPEG
    assert read_image(out).shape == (60, 80, 3)
    assert os.listdir(tmp_path / "out") == ["photo.jpg"]  # no temporary left


def test_plan_outputs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a/x.png", "a/y.jpg", "b/x.png", "z.bmp"):
        write_image(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    pairs = plan_outputs([tmp_path / "a", tmp_path / "z.bmp"], tmp_path / "out")
    assert [
        (os.path.relpath(s, tmp_path), os.path.relpath(d, tmp_path)) for s, d in pairs
    ] == [("a/x.png", "out/x.png"), ("a/y.jpg", "out/y.jpg"), ("z.bmp", "out/z.bmp")]
    with pytest.raises(InputError, match="would both be written to"):
        plan_outputs([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    with pytest.raises(InputError, match="overwrite the input"):
        plan_outputs([tmp_path / "a"], tmp_path / "a")
    with pytest.raises(InputError, match="no such image file or folder"):
        plan_outputs([tmp_path / "missing.png"], tmp_path / "out")
    with pytest.raises(InputError, match="not an image file"):
        plan_outputs([tmp_path / "a" / "notes.txt"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        plan_outputs([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(InputError, match="is a file"):
        plan_outputs([tmp_path / "z.bmp"], tmp_path / "a" / "x.png")
    # Outputs that exist are refused before any work, unless overwrite.
    (tmp_path / "out").mkdir()
    write_image(tmp_path / "out" / "y.jpg", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="out/y.jpg: already exists; pass --overwrite"):
        plan_outputs([tmp_path / "a", tmp_path / "z.bmp"], tmp_path / "out")
    assert plan_outputs([tmp_path / "a"], tmp_path / "out", overwrite=True) == pairs[:2]
    (tmp_path / "fake.png").write_text(
        "not an image"
    )  # found by its header, before work
    with pytest.raises(InputError, match="Cannot read image .*fake.png"):
        plan_outputs([tmp_path / "z.bmp", tmp_path / "fake.png"], tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_tiling_rules():
    dynamic = open_runner(artifact("edsr", "none"))
    assert tiling_for(dynamic) == ((192, 192), 32, False)
    assert tiling_for(dynamic, 64, 8) == ((64, 64), 8, False)
    assert tiling_for(dynamic, 0) == (None, 0, False)
    assert tiling_for(dynamic, 20) == ((20, 20), 9, False)  # default overlap shrinks
    with pytest.raises(InputError, match="--overlap"):
        tiling_for(dynamic, 20, 10)
    # The rule `eval --tile` follows too (`tile_settings`): a floor on the tile,
    # and no silent --overlap without tiling.
    for tile in (1, 8, 15):
        with pytest.raises(
            InputError, match=f"--tile {tile}: tiles must be at least 16"
        ):
            tiling_for(dynamic, tile)
    assert tiling_for(dynamic, 16) == ((16, 16), 7, False)
    with pytest.raises(InputError, match="--overlap is only used with --tile"):
        tiling_for(dynamic, 0, 4)
    fixed = open_runner(artifact("enlcn", "none", tile=(16, 20)))
    assert tiling_for(fixed) == ((16, 20), 7, True)
    with pytest.raises(InputError, match="fixed 16x20 inputs"):
        tiling_for(fixed, 64)
