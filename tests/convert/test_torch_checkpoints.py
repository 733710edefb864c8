"""Converted checkpoints against independent PyTorch forwards.

Each case builds a random state_dict in the authors' layout, saves it with
`torch.save`, converts the file, and compares the Keras output with the
`torch.nn.functional` forward of `torch_reference.py` run in float64 from the
same tensors. Keras runs in float32; outputs are O(1) in [0, 1] units, and
the stated tolerance is `ATOL` (observed: <= 6e-6).
"""

import os

import keras
import numpy as np
import pytest
import torch

from keras_enlca.convert.edsr_family_layout import default_res_scale
from keras_enlca.convert.layout import reference_layout
from keras_enlca.convert.torch_checkpoints import build_model
from keras_enlca.convert.torch_checkpoints import convert_checkpoint
from keras_enlca.convert.torch_checkpoints import load_torch_state_dict
from keras_enlca.errors import InputError
from keras_enlca.models import A2N
from keras_enlca.models import ENLCN
from keras_enlca.models import NLSN
from keras_enlca.models import count_weights
from tests.convert import torch_reference
from tests.convert.common import SMALL_SIZES
from tests.convert.common import random_state_dict
from tests.convert.common import to_nchw64
from tests.convert.common import to_nhwc

ATOL = 3e-5


def torch_forward(
    arch, state_dict, images, scale, rgb_range, res_scale, rotations=None
):
    """Reference output in [0, 1] units for NHWC [0, 1] images."""
    sd = {k: v.double() for k, v in state_dict.items()}
    x = to_nchw64(images)
    with torch.no_grad():
        if arch in ("a2n", "a2n-m"):
            y = torch_reference.a2n_forward(sd, x * 255.0, scale) / 255.0
        else:
            y = (
                torch_reference.edsr_family_forward(
                    sd, x * rgb_range, res_scale, rotations
                )
                / rgb_range
            )
    return to_nhwc(y)


@pytest.mark.parametrize(
    "arch,scale,rgb_range",
    [
        ("edsr", 2, 255.0),
        ("edsr", 3, 1.0),
        ("enlcn", 4, 1.0),
        ("enlcn", 3, 1.0),
        ("nlsn", 2, 1.0),
        ("nlsn", 4, 1.0),
        ("a2n", 2, 255.0),
        ("a2n", 3, 255.0),
        ("a2n-m", 4, 255.0),
    ],
)
def test_converted_network_matches_pytorch(arch, scale, rgb_range, tmp_path, rng):
    layout = reference_layout(arch, scale, **SMALL_SIZES[arch])
    state_dict = random_state_dict(layout, rng, rgb_range)
    path = tmp_path / f"{arch}_x{scale}.pt"
    torch.save(state_dict, path)

    model = convert_checkpoint(path, arch, scale)

    expected_class = {"edsr": "EDSR", "enlcn": "ENLCN", "nlsn": "NLSN"}.get(arch, "A2N")
    assert type(model).__name__ == expected_class
    assert model.scale == scale
    # 20 x 18 = 360 positions: NLSN uses 2 buckets and pads 72 positions.
    images = rng.random((2, 20, 18, 3)).astype("float32")
    rotations = {}
    if arch == "nlsn":
        # Identical rotations on both sides (the reference draws them per call).
        for layer in model.attention_layers:
            values = rng.standard_normal(tuple(layer.rotations.shape)).astype("float32")
            layer.rotations.assign(values)
            rotations[int(layer.name.split("_")[-1])] = torch.from_numpy(values)
        assert sorted(rotations) == [0, 9]
    res_scale = getattr(model, "res_scale", None)
    expected = torch_forward(
        arch, state_dict, images, scale, rgb_range, res_scale, rotations
    )
    actual = model.predict(images, verbose=0)
    assert actual.shape == (2, 20 * scale, 18 * scale, 3)
    assert np.abs(expected).max() > 0.5  # Not a trivially small output.
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=0)


def test_enlcn_projection_matrices_are_loaded_as_they_are(tmp_path, rng):
    layout = reference_layout("enlcn", 2, **SMALL_SIZES["enlcn"])
    state_dict = random_state_dict(layout, rng)
    path = tmp_path / "enlcn.pt"
    torch.save(state_dict, path)
    model = convert_checkpoint(path, "enlcn", 2)
    for index in (0, 9):
        layer = model.get_layer(f"body_{index}")
        np.testing.assert_array_equal(
            layer.projection_matrix.numpy(),
            state_dict[f"body.{index}.attn_fn.projection_matrix"].numpy(),
        )
        assert not layer.projection_matrix.trainable


def constant_state_dict(layout):
    """Each tensor filled with its own constant: shows which key went where."""
    state_dict = {}
    for i, (key, shape) in enumerate(layout.items()):
        state_dict[key] = np.full(shape, 1e-3 * (i + 1), np.float32)
    state_dict["sub_mean.bias"] = -np.asarray([0.4488, 0.4371, 0.4040], np.float32)
    state_dict["add_mean.bias"] = np.asarray([0.4488, 0.4371, 0.4040], np.float32)
    return state_dict


def assert_loaded(variable, value):
    np.testing.assert_array_equal(np.unique(variable.numpy()), np.unique(value))


@pytest.mark.parametrize(
    "arch,scale,weights",
    # Parameters of the reference code plus the non-trainable buffers the
    # Keras layers add: 5 ENLCA projections (128 x 64) / 5 NLSA rotation
    # tables (64 x 4 x 64).
    [
        ("enlcn", 4, 43_583_387 + 5 * 128 * 64),
        ("nlsn", 2, 41_796_187 + 5 * 64 * 4 * 64),
    ],
)
def test_full_size_layouts_load_into_the_paper_networks(arch, scale, weights):
    state_dict = constant_state_dict(reference_layout(arch, scale))
    model = build_model(
        {
            "arch": arch,
            "scale": scale,
            "n_resblocks": 32,
            "n_feats": 256,
            "rgb_range": 1,
            "reduction": 4,
            "num_random_features": 128,
        }
    )
    load_torch_state_dict(model, state_dict)
    assert count_weights(model) == weights
    assert model.res_scale == 0.1
    sd = state_dict
    assert_loaded(model.get_layer("head").kernel, sd["head.0.weight"])
    assert_loaded(model.get_layer("body_35").conv2.kernel, sd["body.35.body.2.weight"])
    assert_loaded(model.get_layer("body_conv").bias, sd["body.37.bias"])
    assert_loaded(model.get_layer("tail").kernel, sd["tail.1.weight"])
    assert_loaded(model.get_layer("upsampler").convs[0].bias, sd["tail.0.0.bias"])
    if arch == "enlcn":
        layer = model.get_layer("body_36")
        assert_loaded(layer.query_embedding.kernel, sd["body.36.conv_match1.0.weight"])
        assert_loaded(layer.key_embedding.bias, sd["body.36.conv_match2.0.bias"])
        assert_loaded(
            layer.value_embedding.kernel, sd["body.36.conv_assembly.0.weight"]
        )
        assert_loaded(layer.projection_matrix, sd["body.36.attn_fn.projection_matrix"])
        assert_loaded(
            model.get_layer("upsampler").convs[1].kernel, sd["tail.0.2.weight"]
        )
    else:
        layer = model.get_layer("body_27")
        assert_loaded(layer.match_embedding.kernel, sd["body.27.conv_match.0.weight"])
        assert_loaded(layer.assembly_embedding.bias, sd["body.27.conv_assembly.0.bias"])


@pytest.fixture
def small_checkpoint(tmp_path, rng):
    """A small ENLCN x2 checkpoint: (path, state_dict)."""
    layout = reference_layout("enlcn", 2, **SMALL_SIZES["enlcn"])
    state_dict = random_state_dict(layout, rng)
    path = tmp_path / "enlcn_x2.pt"
    torch.save(state_dict, path)
    return path, state_dict


def expect_one_line_error(match, path, arch, scale=None, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        convert_checkpoint(path, arch, scale, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_key(small_checkpoint, tmp_path):
    _, state_dict = small_checkpoint
    del state_dict["body.9.attn_fn.projection_matrix"]
    path = tmp_path / "missing.pt"
    torch.save(state_dict, path)
    expect_one_line_error(
        r"missing.pt does not match ENLCN x2 \(9 ResBlocks, 16 features\): keys "
        r"1 missing: body.9.attn_fn.projection_matrix\.$",
        path,
        "enlcn",
        2,
    )


def test_extra_key(small_checkpoint, tmp_path):
    _, state_dict = small_checkpoint
    state_dict["body.0.calls_since_last_redraw"] = torch.tensor(0)
    path = tmp_path / "extra.pt"
    torch.save(state_dict, path)
    expect_one_line_error(
        r"keys 1 unexpected: body.0.calls_since_last_redraw\.$", path, "enlcn", 2
    )


def test_wrong_shape(small_checkpoint, tmp_path):
    _, state_dict = small_checkpoint
    state_dict["body.5.body.2.weight"] = torch.zeros(16, 16, 1, 1)
    path = tmp_path / "shape.pt"
    torch.save(state_dict, path)
    expect_one_line_error(
        r"keys 1 with the wrong shape: body.5.body.2.weight \(16, 16, 1, 1\) instead "
        r"of \(16, 16, 3, 3\)\.$",
        path,
        "enlcn",
        2,
    )


def test_wrong_arch_and_scale(small_checkpoint):
    path, _ = small_checkpoint
    expect_one_line_error(
        r"--arch nlsn does not match .*enlcn_x2.pt: its keys are those of ENLCN; pass "
        r"--arch enlcn\.",
        path,
        "nlsn",
    )
    expect_one_line_error(r"--arch a2n does not match", path, "a2n", 2)
    expect_one_line_error(
        r"--scale 3 does not match .*enlcn_x2.pt: .* pass --scale 2\.", path, "enlcn", 3
    )
    expect_one_line_error(
        r"--scale 4 does not match .*x2; pass --scale 2\.", path, "enlcn", 4
    )


def test_not_a_checkpoint_and_bad_output(small_checkpoint, tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    expect_one_line_error(r"notes.pt: not a PyTorch checkpoint", text, "enlcn", 2)
    path, _ = small_checkpoint
    expect_one_line_error(
        r"model.h5: the output must be a .keras file",
        path,
        "enlcn",
        2,
        output=tmp_path / "model.h5",
    )
    assert not os.path.exists(tmp_path / "model.h5")


def test_state_dict_must_fit_the_given_model(small_checkpoint):
    _, state_dict = small_checkpoint
    model = ENLCN(scale=2, num_blocks=9, filters=32, rgb_range=1.0)
    with pytest.raises(
        InputError,
        match=(
            r"state_dict \(ENLCN x2 \(9 ResBlocks, 16 features\)\) does not fit the "
            r"model: filters=32 \(checkpoint: 16\)"
        ),
    ):
        load_torch_state_dict(model, state_dict)
    model = ENLCN(scale=2, num_blocks=9, filters=16, rgb_range=255.0)
    with pytest.raises(InputError, match=r"rgb_range=255.0 \(checkpoint: 1.0\)"):
        load_torch_state_dict(model, state_dict)
    with pytest.raises(InputError, match=r"--scale 2 does not match state_dict: .* x4"):
        load_torch_state_dict(
            ENLCN(scale=2, num_blocks=9, filters=16),
            random_state_dict(
                reference_layout("enlcn", 4, **SMALL_SIZES["enlcn"]),
                np.random.default_rng(1),
            ),
        )
    with pytest.raises(InputError, match=r"--arch nlsn does not match"):
        load_torch_state_dict(NLSN(scale=2, num_blocks=9, filters=16), state_dict)


def test_load_into_an_existing_model_from_torch_tensors(small_checkpoint, rng):
    _, state_dict = small_checkpoint
    model = ENLCN(scale=2, num_blocks=9, filters=16, rgb_range=1.0)
    assert load_torch_state_dict(model, state_dict) is model
    images = rng.random((1, 12, 12, 3)).astype("float32")
    expected = torch_forward("enlcn", state_dict, images, 2, 1.0, 0.1)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), expected, atol=ATOL, rtol=0
    )


def test_a2n_m_into_a2n_model_is_refused(tmp_path, rng):
    state_dict = random_state_dict(
        reference_layout("a2n-m", 2, **SMALL_SIZES["a2n-m"]), rng
    )
    with pytest.raises(
        InputError,
        match=r"--arch a2n does not match state_dict: its keys are those of A2N-M",
    ):
        load_torch_state_dict(
            A2N(scale=2, num_blocks=2, filters=12, upsample_filters=8), state_dict
        )


def test_res_scale_defaults_and_override(tmp_path, rng):
    assert default_res_scale("edsr", 256) == 0.1
    assert default_res_scale("edsr", 64) == 1.0
    assert default_res_scale("enlcn", 16) == 0.1
    layout = reference_layout("edsr", 2, **SMALL_SIZES["edsr"])
    state_dict = random_state_dict(layout, rng, 255.0)
    path = tmp_path / "edsr.pt"
    torch.save(state_dict, path)
    model = convert_checkpoint(path, "edsr", res_scale=0.1)
    assert model.res_scale == 0.1 and model.rgb_range == 255.0
    images = rng.random((1, 10, 9, 3)).astype("float32")
    expected = torch_forward("edsr", state_dict, images, 2, 255.0, 0.1)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), expected, atol=ATOL, rtol=0
    )
    with pytest.raises(
        InputError, match=r"--res-scale applies to EDSR, NLSN and ENLCN, not to A2N"
    ):
        build_model(
            {
                "arch": "a2n",
                "scale": 2,
                "num_blocks": 1,
                "features": 8,
                "upsample_features": 4,
                "adm_reduction": 4,
                "non_attention_kernel_size": 3,
            },
            res_scale=0.1,
        )


def test_converted_model_saves_reloads_and_fine_tunes(tmp_path, rng):
    # One ResBlock (ENLCA at body 0 and the conv at 2) keeps the training
    # graph quick to trace.
    layout = reference_layout("enlcn", 2, n_resblocks=1, n_feats=16)
    path = tmp_path / "enlcn_x2.pt"
    torch.save(random_state_dict(layout, rng), path)
    output = tmp_path / "out" / "enlcn_x2.keras"
    model = convert_checkpoint(path, "enlcn", 2, output=output)
    assert sorted(os.listdir(output.parent)) == ["enlcn_x2.keras"]  # No temp file left.
    images = rng.random((2, 12, 10, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    restored = keras.saving.load_model(output, safe_mode=True)
    assert type(restored).__name__ == "ENLCN"
    np.testing.assert_array_equal(restored.predict(images, verbose=0), expected)
    np.testing.assert_array_equal(
        restored.get_layer("body_0").projection_matrix.numpy(),
        model.get_layer("body_0").projection_matrix.numpy(),
    )
    # An ordinary model: evaluate and a training step work as for any other.
    targets = np.clip(rng.random((2, 24, 20, 3)), 0, 1).astype("float32")
    restored.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        contrastive_warmup_steps=0,
        jit_compile=False,
    )
    before = restored.get_layer("tail").kernel.numpy().copy()
    history = restored.fit(images, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.abs(restored.get_layer("tail").kernel.numpy() - before).max() > 0
    metrics = restored.evaluate(
        images, targets, batch_size=2, verbose=0, return_dict=True
    )
    assert np.isfinite(metrics["psnr"])
