import tracemalloc

import keras
import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.inference.tiling import TiledUpscaler
from keras_enlca.inference.tiling import ramp_weights
from keras_enlca.inference.tiling import tile_starts
from keras_enlca.inference.tiling import upscale_tiled
from keras_enlca.layers import EfficientNonLocalContrastiveAttention
from keras_enlca.layers import NonLocalAttention
from keras_enlca.layers import PixelShuffle


def nearest(x, scale=2):
    return np.repeat(np.repeat(x, scale, axis=-3), scale, axis=-2)


def smooth_image(height, width):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack(
        [
            np.sin(yy / 9.0) * 0.4 + 0.5,
            np.cos(xx / 7.0) * 0.4 + 0.5,
            (yy + xx) / (height + width),
        ],
        axis=-1,
    ).astype(np.float32)


def small_model(attention=None, convs=3):
    """Convs (3x3, receptive radius `convs` LR pixels), optional attention, x2."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    if attention is not None:
        x = attention(x)
    for _ in range(convs - 2):
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(12, 3, padding="same")(x)
    return keras.Model(inputs, PixelShuffle(2)(x))


def test_tile_starts_cover_evenly_with_enough_overlap():
    assert tile_starts(100, 32, 8) == [0, 23, 45, 68]
    assert tile_starts(32, 32, 8) == [0]
    assert tile_starts(20, 32, 8) == [0]
    assert tile_starts(33, 32, 8) == [0, 1]
    for length in range(33, 300, 7):
        starts = tile_starts(length, 32, 10)
        assert starts[0] == 0 and starts[-1] + 32 == length
        assert all(b - a <= 32 - 10 for a, b in zip(starts, starts[1:]))


def test_ramp_weights():
    w = ramp_weights(16, 8, True, True)
    # Zero over the first quarter of the overlap, then linear over half of it.
    np.testing.assert_allclose(w[:4], [0.0, 0.0, 0.125, 0.375])
    np.testing.assert_allclose(w[6:10], 1.0)
    np.testing.assert_allclose(w[::-1], w)
    np.testing.assert_allclose(ramp_weights(16, 8, False, False), 1.0)
    # Complementary ramps of two tiles overlapping by 8 sum to one.
    np.testing.assert_allclose(
        ramp_weights(16, 8, False, True)[8:] + ramp_weights(16, 8, True, False)[:8], 1.0
    )


@pytest.mark.parametrize(
    "shape, tile, overlap, batch",
    [
        ((50, 77), 16, 4, 1),
        ((100, 33), (20, 40), 9, 3),
        ((17, 300), 16, 7, 2),
        ((10, 12), 32, 8, 1),
    ],
)
def test_blend_weights_sum_to_one(rng, shape, tile, overlap, batch):
    image = rng.random(shape + (3,)).astype(np.float32)
    out = upscale_tiled(nearest, image, 2, tile=tile, overlap=overlap, batch_size=batch)
    np.testing.assert_allclose(out, nearest(image), atol=2e-7)


def test_convolutional_model_is_exact_with_enough_overlap(rng):
    model = small_model(convs=3)  # receptive radius 3 LR pixels
    fn = lambda x: model(x, training=False).numpy()  # noqa: E731
    image = rng.random((70, 90, 3)).astype(np.float32)
    whole = fn(image[None])[0]
    # overlap / 4 = 4 pixels of context >= 3: identical to the whole image.
    tiled = upscale_tiled(fn, image, 2, tile=40, overlap=16, batch_size=2)
    np.testing.assert_allclose(tiled, whole, atol=2e-5)
    # Too little overlap: tile borders show.
    assert np.abs(upscale_tiled(fn, image, 2, tile=40, overlap=4) - whole).max() > 1e-3


@pytest.mark.parametrize(
    "attention",
    [
        lambda: NonLocalAttention(reduction=2),
        lambda: EfficientNonLocalContrastiveAttention(reduction=4, res_scale=1.0),
    ],
    ids=["nla", "enlca"],
)
def test_attention_model_is_seam_free(attention):
    model = small_model(attention=attention(), convs=2)
    fn = lambda x: model(x, training=False).numpy()  # noqa: E731
    image = smooth_image(64, 80)
    whole = fn(image[None])[0]

    def seam_ratio(out):
        # Column-to-column change of the error against the whole-image run:
        # a seam is a column where it jumps far above its typical size.
        jumps = np.abs(np.diff(out - whole, axis=1)).mean(axis=(0, 2))
        return jumps.max() / np.median(jumps)

    hard = upscale_tiled(fn, image, 2, tile=(64, 40), overlap=0)
    blended = upscale_tiled(fn, image, 2, tile=(64, 40), overlap=16)
    assert seam_ratio(hard) > 4.0
    assert seam_ratio(blended) < 2.0
    assert np.abs(blended - whole).mean() < np.abs(hard - whole).mean()


def test_memory_is_bounded_by_the_tile_not_the_image(rng):
    photo = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    upscaler = TiledUpscaler(nearest, 2, tile=256, overlap=32, dtype="uint8")
    tracemalloc.start()
    try:
        out = upscaler(photo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (6000, 8000, 3) and out.dtype == np.uint8
    assert upscaler.max_input_shape == (1, 256, 256, 3)
    # Beyond the 144 MB output: one band of (tile + overlap) * scale output
    # rows in float32 (~60 MB here), never a float copy of the whole image.
    assert peak - out.nbytes < 100e6
    np.testing.assert_array_equal(out[::997, ::1231], nearest(photo)[::997, ::1231])


def test_fixed_tile_shape_for_fixed_size_models(rng):
    calls = []

    def fixed(x):
        calls.append(x.shape)
        assert x.shape[1:3] == (24, 24)
        return nearest(x)

    for shape in ((10, 50), (24, 24), (70, 31)):
        image = rng.random(shape + (3,)).astype(np.float32)
        out = upscale_tiled(fixed, image, 2, tile=24, overlap=6, fixed_tile_shape=True)
        np.testing.assert_allclose(out, nearest(image), atol=2e-7)
    assert calls


def test_output_options(rng, tmp_path):
    image = rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)
    as_uint8 = upscale_tiled(nearest, image, 2, tile=16, overlap=4, dtype="uint8")
    np.testing.assert_array_equal(as_uint8, nearest(image))
    out = np.lib.format.open_memmap(
        tmp_path / "out.npy", mode="w+", dtype=np.uint8, shape=(60, 82, 3)
    )
    result = upscale_tiled(nearest, image, 2, tile=16, overlap=4, out=out)
    assert result is out
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), nearest(image))
    batched = upscale_tiled(nearest, image[None] / 255.0, 2, tile=16, overlap=4)
    assert batched.shape == (1, 60, 82, 3)


def test_errors(rng):
    image = rng.random((30, 30, 3)).astype(np.float32)
    with pytest.raises(InputError, match="half the tile"):
        TiledUpscaler(nearest, 2, tile=16, overlap=8)
    with pytest.raises(InputError, match="expected"):
        upscale_tiled(lambda x: nearest(x, 3), image, 2, tile=16, overlap=4)
    with pytest.raises(InputError, match="one image at a time"):
        upscale_tiled(nearest, np.stack([image, image]), 2, tile=16, overlap=4)
    with pytest.raises(InputError, match="out has shape"):
        upscale_tiled(nearest, image, 2, tile=16, overlap=4, out=np.zeros((10, 10, 3)))


def test_litert_interpreter_with_a_fixed_tile_shape(rng, tmp_path):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = small_model(convs=3)
    fixed = keras.Sequential([keras.Input((32, 32, 3), batch_size=1), model])
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]

    def run_litert(x):
        assert x.shape == (1, 32, 32, 3)
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    image = rng.random((70, 45, 3)).astype(np.float32)
    tiled = upscale_tiled(
        run_litert, image, 2, tile=32, overlap=12, fixed_tile_shape=True
    )
    whole = model(image[None], training=False).numpy()[0]
    np.testing.assert_allclose(tiled, whole, atol=1e-4)
    # Narrower than the tile: mirrored to 32 columns, cropped back; only the
    # columns near the padded edge see the mirror instead of zero padding.
    narrow = image[:, :29]
    tiled = upscale_tiled(
        run_litert, narrow, 2, tile=32, overlap=12, fixed_tile_shape=True
    )
    whole = model(narrow[None], training=False).numpy()[0]
    assert tiled.shape == whole.shape == (140, 58, 3)
    np.testing.assert_allclose(tiled[:, :50], whole[:, :50], atol=1e-4)


def test_read_only_model_outputs(rng):
    def read_only(x):
        out = nearest(x)
        out.setflags(write=False)
        return out

    image = rng.random((30, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(
        upscale_tiled(read_only, image, 2, tile=16, overlap=4),
        nearest(image),
        atol=2e-7,
    )


def test_progress_counts_every_tile_once():
    calls = []
    upscaler = TiledUpscaler(
        lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2),
        2,
        tile=20,
        overlap=4,
        batch_size=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    upscaler(np.zeros((50, 70, 3), np.float32))
    total = len(upscaler.plan(50, 70))
    assert total == 3 * 5  # 50 rows: 3 tiles; 70 columns: 5 tiles
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})
    assert all(t == total for _, t in calls)
