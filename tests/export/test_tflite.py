import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.export import UnsupportedOpError
from keras_enlca.export import convert_to_tflite
from keras_enlca.export import export_tflite
from keras_enlca.export import non_builtin_ops
from keras_enlca.export import tflite_operators
from keras_enlca.export.float_nodes import attention_layer_names
from keras_enlca.export.float_nodes import float_node_names
from keras_enlca.inference import KerasRunner
from keras_enlca.inference import LiteRTRunner
from keras_enlca.inference import read_artifact_metadata
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.tflite_flatbuffer import operator_output_names
from tests.export.artifacts import FAMILIES
from tests.export.artifacts import artifact
from tests.export.artifacts import calibration_dataset
from tests.export.artifacts import lr_image
from tests.export.artifacts import tiny_model

# Minimum PSNR-Y (dB) of each TFLite variant against the Keras model, both
# rounded to 8 bits, on LR sizes the model was never traced or calibrated
# with (21x27, then 16x19). Measured on these tiny random-weight networks,
# min over the four families: float32 98 (identical pixels but for rounding
# ties), float16 68, dynamic range 56, int8 46. Trained small presets lose
# 0.000 (float16), <= 0.016 (dynamic) and <= 0.066 dB (int8) PSNR-Y against
# HR: see benchmarks/export.py.
MIN_PSNR_VS_KERAS = {"none": 80.0, "float16": 60.0, "dynamic": 50.0, "int8": 42.0}


def keras_uint8(family, images):
    model, _ = tiny_model(family)
    return KerasRunner(model)(images)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["none", "float16", "dynamic", "int8"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tflite_matches_keras_at_an_untraced_size(family, variant):
    path = artifact(family, variant)
    with open(path, "rb") as f:
        content = f.read()
    assert non_builtin_ops(content) == []
    runner = LiteRTRunner(path, num_threads=1)
    assert type(runner.interpreter).__module__ == "ai_edge_litert.interpreter"
    assert runner.input_size is None and runner.scale == 2
    assert runner.shape_signature == [1, -1, -1, 3]
    assert runner._input["dtype"] == np.uint8 and runner._output["dtype"] == np.uint8

    images = lr_image()
    out = runner(images)
    reference = keras_uint8(family, images)
    assert out.shape == (1, 42, 54, 3)
    value = psnr(out[0], reference[0], shave=2)
    assert value >= MIN_PSNR_VS_KERAS[variant], (family, variant, value)
    # A second, different size reuses the same interpreter (resize_tensor_input).
    other = lr_image(16, 19, seed=1)
    assert psnr(runner(other)[0], keras_uint8(family, other)[0], shave=2) >= (
        MIN_PSNR_VS_KERAS[variant] - 4.0
    )


def _ops(path):
    with open(path, "rb") as f:
        return tflite_operators(f.read())


def test_quantization_changes_weight_types():
    ops = {
        variant: _ops(artifact("edsr", variant))
        for variant in ("none", "float16", "dynamic")
    }
    assert all("INT8" not in op["outputs"] for op in ops["none"])
    assert "DEQUANTIZE" in {op["op"] for op in ops["float16"]}  # float16 weights
    # Dynamic range: int8 weights into float convolutions (hybrid kernels);
    # convolutions with fewer than 1024 weights stay float.
    convs = [op for op in ops["dynamic"] if op["op"] == "CONV_2D"]
    hybrid = [op for op in convs if op["inputs"][:2] == ["FLOAT32", "INT8"]]
    assert hybrid and all(op["outputs"] == ["FLOAT32"] for op in convs)


@pytest.mark.slow
def test_int8_keeps_attention_arithmetic_in_float():
    model, _ = tiny_model("enlcn")
    assert attention_layer_names(model) == ["body_0", "body_3"]
    ops = _ops(artifact("enlcn", "int8"))
    # Convolutions are int8 (attention embeddings included) but for those
    # holding the image at both ends (`sub_mean`, `head`; `tail`, `add_mean`).
    convs = [op["outputs"] for op in ops if op["op"] == "CONV_2D"]
    assert len(convs) == 16
    assert convs[:2] == [["FLOAT32"]] * 2 and convs[-2:] == [["FLOAT32"]] * 2
    assert convs[2:-2] == [["INT8"]] * 12
    # The residual stream stays float: the ADD closing each ResBlock
    # (body_1, body_2) and the global skip (body_skip).
    content = open(artifact("enlcn", "int8"), "rb").read()
    stream = [
        op["outputs"]
        for op, (_, name) in zip(ops, operator_output_names(content))
        if op["op"] == "ADD"
        and re.search(r"/(body_[12]|body_skip)(_\d+)?/[Aa]dd[^/]*$", name)
    ]
    assert stream == [["FLOAT32"]] * 3
    metadata = read_artifact_metadata(artifact("enlcn", "int8"))
    # (body_0 and body_3, the attention blocks, end in a float ADD anyway.)
    assert metadata["float_residual_adds"] == [
        "body_0",
        "body_1",
        "body_2",
        "body_3",
        "body_skip",
    ]
    by_type = {}
    for op in ops:
        by_type.setdefault(op["op"], set()).update(op["outputs"])
    # ENLCA's kernel features and normaliser stay float32.
    # (L2 normalisation is written out as SQUARE/SUM/MAXIMUM/RSQRT/MUL.)
    for name in ("EXP", "DIV", "BATCH_MATMUL", "FULLY_CONNECTED", "RSQRT"):
        assert by_type[name] == {"FLOAT32"}, name
    assert "L2_NORMALIZATION" not in by_type
    # I/O is uint8 pixels; the output conversion stays float.
    assert ops[0]["op"] == "CAST" and ops[0]["inputs"] == ["UINT8"]
    assert ops[-1]["op"] == "CAST" and ops[-1]["outputs"] == ["UINT8"]
    assert by_type["FLOOR"] == {"FLOAT32"}


def test_image_layers_are_the_three_channel_ends_and_the_head():
    from keras_enlca.export.float_nodes import image_layer_names

    assert image_layer_names(tiny_model("enlcn")[0]) == [
        "input_scaling",
        "sub_mean",
        "head",
        "tail",
        "add_mean",
        "output_scaling",
    ]
    assert image_layer_names(tiny_model("a2n")[0]) == [
        "input_scaling",
        "conv_first",
        "conv_last",
        "skip_upsample",
        "skip_add",
        "output_scaling",
    ]


def test_float_node_names_select_attention_ops_but_not_convolutions():
    content = open(artifact("enlcn", "none"), "rb").read()
    nodes = float_node_names(content, ["body_0"])
    ops = {name: op for op, name in operator_output_names(content)}
    assert nodes and all(ops[n] != "CONV_2D" for n in nodes)
    assert any(ops[n] == "EXP" and "body_0_" in n for n in nodes)
    assert not any(re.search(r"/body_3(_\d+)?/", n) for n in nodes)
    assert any(n.startswith("enlca_postprocess") for n in nodes)


@pytest.mark.slow
def test_fully_int8_enlcn_breaks_which_is_why_attention_stays_float():
    model, _ = tiny_model("enlcn")
    content = convert_to_tflite(
        model, "int8", calibration_dataset(), float_ops=(), float_layers=()
    )
    assert {
        op["op"] for op in tflite_operators(content) if "INT8" in op["outputs"]
    } >= {"EXP", "DIV", "FULLY_CONNECTED"}
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    image = (lr_image() * 255).astype(np.uint8)
    interpreter.resize_tensor_input(0, image.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    # The quantised normaliser rounds to its zero point: int8 DIV refuses.
    with pytest.raises(RuntimeError, match="DIV"):
        interpreter.invoke()


@keras.saving.register_keras_serializable(package="tests_export")
class BicubicUpscale(keras.layers.Layer):
    def call(self, x):
        shape = tf.shape(x)
        return tf.image.resize(x, [2 * shape[1], 2 * shape[2]], method="bicubic")


def test_an_op_needing_flex_is_an_error_naming_it(tmp_path):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, BicubicUpscale(name="bicubic_skip")(inputs))
    path = tmp_path / "model.tflite"
    with pytest.raises(UnsupportedOpError) as info:
        export_tflite(model, path, source="bicubic.keras")
    assert info.value.ops == ["tf.ResizeBicubic"]
    message = str(info.value)
    assert message.startswith("bicubic.keras: ") and "tf.ResizeBicubic" in message
    assert "bicubic_skip" in message  # where it sits in the network
    assert "\n" not in message
    assert not path.exists() and os.listdir(tmp_path) == []


def test_fixed_tile_export_pads_small_inputs_and_refuses_large_ones():
    path = artifact("enlcn", "none", tile=(16, 20))
    runner = LiteRTRunner(path)
    assert runner.input_size == (16, 20) and runner.shape_signature == [1, 16, 20, 3]
    model, _ = tiny_model("enlcn")
    image = lr_image(16, 20)
    assert psnr(runner(image)[0], KerasRunner(model)(image)[0], shave=2) >= 80.0
    # A smaller image is mirror-padded to 16x20 and the output cropped.
    small = lr_image(13, 17, seed=3)
    padded = np.pad(small, ((0, 0), (0, 3), (0, 3), (0, 0)), mode="symmetric")
    expected = KerasRunner(model)(padded)[:, :26, :34]
    assert runner(small).shape == (1, 26, 34, 3)
    assert psnr(runner(small)[0], expected[0], shave=2) >= 80.0
    with pytest.raises(InputError, match="16x20"):
        runner(lr_image(17, 20))
    assert read_artifact_metadata(path)["tile"] == [16, 20]


def test_metadata_is_embedded_and_beside(tmp_path):
    path = artifact("edsr", "none")
    beside = read_artifact_metadata(path)
    with open(metadata_path(path)) as f:
        assert json.load(f) == beside
    assert beside["format"] == "tflite" and beside["network"] == "EDSR"
    assert beside["scale"] == 2 and beside["quantization"] == "none"
    assert beside["input"]["dtype"] == "uint8" and beside["input"]["range"] == [0, 255]
    # A copy without the JSON still carries it inside the flatbuffer.
    copy = tmp_path / "copy.tflite"
    copy.write_bytes(open(path, "rb").read())
    assert read_artifact_metadata(copy) == beside
    # ... and the interpreter does not mind the extra metadata entry.
    assert LiteRTRunner(copy).metadata == beside


def test_unknown_quantization_is_an_input_error():
    model, _ = tiny_model("edsr")
    with pytest.raises(InputError, match="--quantize"):
        convert_to_tflite(model, "int4")
    with pytest.raises(InputError, match="calibration"):
        convert_to_tflite(model, "int8")


def test_a_mixed_precision_model_is_exported_in_float32(tmp_path):
    from keras_enlca.models import from_preset

    model = from_preset("edsr_small_x2", num_blocks=1, filters=8, dtype="mixed_float16")
    assert model.get_layer("tail").compute_dtype == "float16"
    content = export_tflite(model, tmp_path / "mixed.tflite")
    assert non_builtin_ops(content) == []
    float32 = from_preset("edsr_small_x2", num_blocks=1, filters=8, dtype="float32")
    float32.set_weights(model.get_weights())
    images = lr_image()
    out = LiteRTRunner(tmp_path / "mixed.tflite")(images)
    assert psnr(out[0], KerasRunner(float32)(images)[0], shave=2) >= 80.0


@pytest.mark.slow
def test_int8_keeps_the_residual_stream_float_which_lowers_the_error(tmp_path):
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths
    from keras_enlca.export import export_model
    from tests.export.quantization_models import residual_stream_upscaler

    # 12 blocks `x + 0.1 * conv(x)`: an int8 stream is rounded 12 times on
    # its own wide scale, a float one only carries each branch's rounding.
    model = residual_stream_upscaler(blocks=12)
    image = read_image(sample_image_paths()[0])[:64, :80].astype(np.float32)[None]
    image /= 255.0
    reference = np.clip(np.asarray(model(image))[0], 0.0, 1.0)
    scores = {}
    for flag in (True, False):
        out = tmp_path / f"stream_{flag}.tflite"
        metadata = export_model(
            model,
            out,
            quantize="int8",
            float_residual_adds=flag,
            num_calibration_crops=4,
            calibration_crop_size=[24, 32],
        )
        blocks = [f"block_{i}" for i in range(12)]
        assert metadata["float_residual_adds"] == (blocks if flag else [])
        assert ("residual adds" in metadata["recipe"]["float_layers"]) is flag
        scores[flag] = psnr(LiteRTRunner(str(out))(image)[0], reference)
    # Measured 48.7 dB (float stream) against 46.3 dB (int8 stream).
    assert scores[True] >= scores[False] + 1.5, scores
