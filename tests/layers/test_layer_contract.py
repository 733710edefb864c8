"""The contract every public layer of `keras_enlca.layers` passes.

Like Keras' `TestCase.run_layer_test`: every constructor argument in
`get_config()`, a `.keras` round trip under `safe_mode`, any batch/height/
width in one traced function, XLA, `mixed_float16`, TFLite with builtin ops
only (run in LiteRT at sizes it was not traced with) and the expected
number of weights. A new public layer must be added to `LAYERS`.
"""

import inspect

import keras
import numpy as np
import pytest

import keras_enlca.layers
from keras_enlca import layers
from tests.layers import common

# name: (factory, input channels, spatial scale, output channels,
#        (trainable, non-trainable) weight scalars, mixed-precision tolerance)
LAYERS = {
    # conv 16->4 (1x1) for queries and keys, 16->16 values; 128x4 projection.
    "ENLCA": (lambda: layers.ENLCA(projection_seed=1), 16, 1, 16, (408, 512), 0.05),
    # theta, phi 16->8 (1x1), g 16->16.
    "NonLocalAttention": (
        lambda: layers.NonLocalAttention(),
        16,
        1,
        16,
        (544, 0),
        0.05,
    ),
    # match 16->4 (3x3), assembly 16->16 (1x1); rotations buffer.
    "NonLocalSparseAttention": (
        lambda: layers.NonLocalSparseAttention(chunk_size=16, rotations_seed=1),
        16,
        1,
        16,
        (852, 1024),
        0.05,
    ),
    "AttentionInAttentionBlock": (
        lambda: layers.AttentionInAttentionBlock(filters=8),
        8,
        1,
        8,
        (2524, 0),
        0.05,
    ),
    # a frozen 1x1 conv 3->3: 9 + 3.
    "MeanShift": (lambda: layers.MeanShift(rgb_range=255.0), 3, 1, 3, (0, 12), 0.5),
    "PixelAttention": (lambda: layers.PixelAttention(4), 4, 1, 4, (20, 0), 0.01),
    "PixelShuffle": (lambda: layers.PixelShuffle(2), 8, 2, 2, (0, 0), 0.001),
    "ResidualBlock": (lambda: layers.ResidualBlock(4), 4, 1, 4, (296, 0), 0.01),
    "ResizeUpsampling": (
        lambda: layers.ResizeUpsampling(2, interpolation="bilinear"),
        3,
        2,
        3,
        (0, 0),
        0.001,
    ),
    # The same layer computed by transposed convolutions (int8-full's x3).
    "ResizeUpsampling/transposed_conv": (
        lambda: layers.ResizeUpsampling(
            3, interpolation="bilinear", implementation="transposed_conv"
        ),
        3,
        3,
        3,
        (0, 0),
        0.002,  # two float16 passes (the resize: one)
    ),
    # conv 4->16 (3x3) and a pixel shuffle.
    "Upsampler": (
        lambda: layers.Upsampler(scale=2, filters=4),
        4,
        2,
        4,
        (592, 0),
        0.01,
    ),
}


def inputs(name, batch=2, height=12, width=10):
    channels = LAYERS[name][1]
    return np.random.default_rng(0).random(
        (batch, height, width, channels), dtype=np.float32
    )


def test_every_public_layer_is_in_the_contract():
    public = {
        cls.__name__
        for _, cls in inspect.getmembers(keras_enlca.layers, inspect.isclass)
        if issubclass(cls, keras.layers.Layer)
    }
    assert public == {type(make()).__name__ for make, *_ in LAYERS.values()}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_config_and_weight_counts(name):
    make, channels, _, _, counts, _ = LAYERS[name]
    layer = make()
    layer(inputs(name))
    common.check_config_has_every_argument(layer)
    assert common.weight_counts(layer) == counts


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_safe_mode_round_trip(name, tmp_path):
    common.check_save_load(LAYERS[name][0](), inputs(name), tmp_path)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dynamic_shapes(name):
    make, channels, scale, out_channels, _, _ = LAYERS[name]
    common.check_dynamic_output_shapes(
        make(), channels, [(1, 9, 9), (3, 17, 5), (2, 4, 6)], scale, out_channels
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_xla(name):
    common.check_xla(LAYERS[name][0](), inputs(name))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mixed_precision(name):
    make, *_, tolerance = LAYERS[name]
    x = inputs(name) * (255.0 if name == "MeanShift" else 1.0)
    common.check_mixed_precision(make, x, tolerance)


@pytest.mark.slow
@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_tflite_builtin_ops_only(name, tmp_path):
    make, channels, *_ = LAYERS[name]
    ops = common.check_tflite_builtin(make(), channels, [(12, 13), (20, 17)], tmp_path)
    assert ops


# Losses a layer adds in a training call (ENLCA: its contrastive loss).
TRAINING_LOSSES = {"ENLCA": 1}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_losses_only_in_training(name):
    layer = LAYERS[name][0]()
    x = inputs(name, height=16, width=16)
    layer(x, training=False)
    assert len(layer.losses) == 0
    layer(x, training=True)
    assert len(layer.losses) == TRAINING_LOSSES.get(name, 0)
    assert all(np.isfinite(float(loss)) for loss in layer.losses)
