"""`--quantize int8-full`: every op integer, uint8 pixels in and out."""

import json

import keras
import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.export import export_model
from keras_enlca.export.integer_model import INT8_FULL
from keras_enlca.export.integer_model import check_fully_integer
from keras_enlca.export.integer_model import float_tensors
from keras_enlca.inference import KerasRunner
from keras_enlca.inference import LiteRTRunner
from keras_enlca.layers.resize_upsampling import ResizeUpsampling
from tests.export.artifacts import lr_image

CALIBRATION = {"num_calibration_crops": 6, "calibration_crop_size": [32, 48]}


def skip_sum_upscaler(scale=2):
    """A2N's ends: `(conv(255 x) + bilinear(255 x)) / 255`, x`scale`.

    The residual convolution adds a small, image-dependent correction; the
    sum before `/ 255` spans about [-4, 264] on photos, which the pinned
    ranges map to the pixel grid [0, 255].
    """
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(255.0, name="input_scaling")(inputs)
    residual = keras.layers.Conv2D(3, 3, padding="same", name="residual")(x)
    residual = ResizeUpsampling(scale, name="residual_up")(residual)
    skip = ResizeUpsampling(scale, interpolation="bilinear", name="skip_up")(x)
    y = keras.layers.Add(name="skip_add")([residual, skip])
    outputs = keras.layers.Rescaling(1.0 / 255.0, name="output_scaling")(y)
    model = keras.Model(inputs, outputs, name="skip_sum")
    kernel = np.random.default_rng(0).normal(0, 0.02, (3, 3, 3, 3)).astype("float32")
    model.get_layer("residual").set_weights([kernel, np.full(3, -2.0, "float32")])
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8full")
    model = skip_sum_upscaler()
    path = folder / "model.keras"
    model.save(path)
    out = folder / "full.tflite"
    metadata = export_model(str(path), str(out), quantize=INT8_FULL, **CALIBRATION)
    return str(path), str(out), metadata


def test_int8_full_has_no_float_op_and_pixel_io(exported):
    _, out, metadata = exported
    content = open(out, "rb").read()
    assert float_tensors(content) == []
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=out)
    for detail in interpreter.get_input_details() + interpreter.get_output_details():
        assert detail["dtype"] == np.uint8
        scale, zero = detail["quantization"]
        assert abs(scale - 1 / 255) < 1e-9 and zero == 0
    assert metadata["quantization"] == INT8_FULL
    assert metadata["recipe"]["name"] == INT8_FULL
    assert metadata["recipe"]["float_ops"] == []
    stored = json.load(open(out + ".json"))
    assert stored["recipe"] == metadata["recipe"]
    # Output, the clip, `/ 255` and the sum before it: the sum is pinned.
    assert any("skip_add" in name for name in stored["pinned_ranges"])


def test_int8_full_output_matches_keras(exported):
    path, out, _ = exported
    image = lr_image()
    reference = KerasRunner(path)(image)[0]
    artifact = LiteRTRunner(out, num_threads=1)(image)[0]
    # Measured 60.5 dB (the float32 export gives identical pixels).
    assert psnr(artifact, reference, shave=2) > 55.0


def test_pinned_ranges_put_the_skip_sum_on_the_pixel_grid(exported):
    from ai_edge_litert.interpreter import Interpreter

    _, out, _ = exported
    interpreter = Interpreter(model_path=out)
    sums = [
        d
        for d in interpreter.get_tensor_details()
        if d["name"].endswith("skip_add_1/Add")
    ]
    assert len(sums) == 1
    scale, zero = sums[0]["quantization"]
    # [0, 255] over 256 int8 levels: one step per pixel level.
    assert scale == pytest.approx(1.0, abs=1e-6) and zero == -128


def test_a_float_op_is_refused_with_one_line():
    # A float model (no quantisation at all) names its float ops.
    import tensorflow as tf

    model = skip_sum_upscaler()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    content = converter.convert()
    with pytest.raises(InputError, match="stay float32.*use --quantize int8"):
        check_fully_integer(content)


def test_enlcn_is_refused_in_one_line_before_anything_runs(tmp_path):
    # ENLCA's SQUARE stays float, and the int8 model would also fail at run
    # time in DIV: the float op is named, not the run-time failure.
    from tests.export.artifacts import tiny_model

    _, path = tiny_model("enlcn")
    out = tmp_path / "enlcn.tflite"
    with pytest.raises(InputError) as error:
        export_model(path, str(out), quantize=INT8_FULL, **CALIBRATION)
    message = str(error.value)
    assert "\n" not in message and "SQUARE" in message and "--quantize int8" in message
    assert not out.exists()


def test_x3_bilinear_skips_become_transposed_convolutions(tmp_path, monkeypatch):
    import contextlib

    import keras_enlca.export.integer_model as integer_model
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths
    from keras_enlca.export import tflite_operators

    path = str(tmp_path / "x3.keras")
    skip_sum_upscaler(3).save(path)
    out = tmp_path / "x3.tflite"
    metadata = export_model(path, str(out), quantize=INT8_FULL, **CALIBRATION)
    assert metadata["transposed_bilinear"] == ["skip_up"]
    ops = {
        (op["op"], tuple(op["outputs"])) for op in tflite_operators(out.read_bytes())
    }
    assert ("TRANSPOSE_CONV", ("INT8",)) in ops
    assert not any(op == "RESIZE_BILINEAR" for op, _ in ops)
    # The Keras model is left as it was.
    layer = keras.saving.load_model(path).get_layer("skip_up")
    assert layer.implementation == "resize"
    # Against int8 RESIZE_BILINEAR (the same export without the swap), on a
    # 160x160 photo crop, both against the Keras model: measured 59.1 dB
    # against 42.6 dB (the resize kernel's error grows with the position).
    monkeypatch.setattr(
        integer_model, "transposed_bilinear", lambda model: contextlib.nullcontext([])
    )
    old = tmp_path / "resize.tflite"
    export_model(path, str(old), quantize=INT8_FULL, **CALIBRATION)
    image = read_image(sample_image_paths()[0])[:160, :160]
    image = image.astype(np.float32)[None] / 255.0
    reference = KerasRunner(path)(image)[0]
    scores = {
        name: psnr(LiteRTRunner(str(file), num_threads=1)(image)[0], reference, shave=3)
        for name, file in (("transposed", out), ("resize", old))
    }
    assert scores["transposed"] >= 55.0 and scores["resize"] <= 50.0, scores


def test_x2_bilinear_keeps_the_resize_where_int8_is_exact(exported):
    from keras_enlca.export import tflite_operators

    _, out, metadata = exported
    assert metadata["transposed_bilinear"] == []
    ops = {op["op"] for op in tflite_operators(open(out, "rb").read())}
    assert "RESIZE_BILINEAR" in ops and "TRANSPOSE_CONV" not in ops
