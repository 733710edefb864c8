"""ONNX export: ONNX Runtime against Keras on every family, float16, metadata."""

import json
import os

import numpy as np
import onnxruntime as ort
import pytest

from keras_enlca.export import export_model
from keras_enlca.export.onnx_exporter import convert_to_onnx
from keras_enlca.export.onnx_exporter import float16_weights
from keras_enlca.inference import open_runner
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.metadata import read_artifact_metadata
from keras_enlca.inference.onnx_runner import OnnxRunner
from keras_enlca.utils.image_conventions import to_uint8
from tests.export.artifacts import FAMILIES
from tests.export.artifacts import lr_image
from tests.export.artifacts import tiny_model


def run_float(proto, image):
    session = ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: image})[0]


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_onnx_runtime_matches_keras_any_size_and_fixed(family):
    model, _ = tiny_model(family)
    image = lr_image(21, 27)  # odd, never traced: the dynamic shape at work
    expected = np.asarray(model(image, training=False))
    any_size = convert_to_onnx(model, float_io=True)
    dims = any_size.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param != "" for d in dims] == [True, True, True, False]
    np.testing.assert_allclose(run_float(any_size, image), expected, atol=1e-4)
    wide = lr_image(17, 40, seed=1)
    np.testing.assert_allclose(
        run_float(any_size, wide),
        np.asarray(model(wide, training=False)),
        atol=1e-4,
    )
    fixed = convert_to_onnx(model, input_size=(21, 27), float_io=True)
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [21, 27, 3]
    np.testing.assert_allclose(run_float(fixed, image), expected, atol=1e-4)


def test_onnx_export_writes_the_uint8_model_and_its_metadata(tmp_path):
    model, keras_path = tiny_model("enlcn")
    out = tmp_path / "enlcn.onnx"
    metadata = export_model(keras_path, out, format="onnx")
    assert sorted(os.listdir(tmp_path)) == ["enlcn.onnx", "enlcn.onnx.json"]
    with open(metadata_path(out)) as f:
        beside = json.load(f)
    assert beside == metadata
    assert metadata["format"] == "onnx" and metadata["quantization"] == "none"
    assert metadata["network"] == "ENLCN" and metadata["scale"] == 2
    assert metadata["input"]["shape"] == [None, None, None, 3]
    assert metadata["input_size"] is None and metadata["target"] == "cpu"
    assert metadata["converter"]["name"] == "tf2onnx"
    assert metadata["converter"]["opset"] == 17
    assert metadata["size_bytes"] == os.path.getsize(out)
    # The copy inside the file, when the JSON is not beside it.
    os.remove(metadata_path(out))
    inside = read_artifact_metadata(out)
    assert inside == {k: v for k, v in metadata.items() if k != "size_bytes"}
    runner = open_runner(out)
    assert isinstance(runner, OnnxRunner) and runner.scale == 2
    image = lr_image(19, 30)
    keras_pixels = to_uint8(np.asarray(model(image, training=False)))
    onnx_pixels = to_uint8(runner(image))
    assert onnx_pixels.shape == (1, 38, 60, 3)
    assert np.abs(onnx_pixels.astype(int) - keras_pixels).max() <= 1


def test_float16_onnx_halves_the_weights_and_keeps_the_picture(tmp_path):
    model, keras_path = tiny_model("a2n")
    out32, out16 = tmp_path / "a2n.onnx", tmp_path / "a2n_fp16.onnx"
    export_model(keras_path, out32, format="onnx")
    metadata = export_model(keras_path, out16, format="onnx", quantize="float16")
    assert metadata["quantization"] == "float16"
    image = lr_image(24, 20)
    a, b = OnnxRunner(out32)(image), OnnxRunner(out16)(image)
    psnr = 10 * np.log10(1 / np.mean((a - b) ** 2)) if np.any(a != b) else np.inf
    assert psnr > 45, psnr
    weights32 = sum(w.nbytes for w in _weights(out32))
    weights16 = sum(w.nbytes for w in _weights(out16))
    assert 0.45 < weights16 / weights32 < 0.6


def _weights(path):
    import onnx
    from onnx import numpy_helper

    return [numpy_helper.to_array(w) for w in onnx.load(path).graph.initializer]


def test_float16_weights_keeps_scalars_in_float32():
    import onnx

    model, _ = tiny_model("edsr")
    proto = convert_to_onnx(model)
    before = {w.name: w.data_type for w in proto.graph.initializer}
    converted = float16_weights(proto)
    types = [w.data_type for w in proto.graph.initializer]
    assert converted == types.count(onnx.TensorProto.FLOAT16) > 0
    big = sum(1 for w in proto.graph.initializer if np.prod(w.dims) >= 16)
    assert converted == big
    assert len(types) == len(before)


@pytest.mark.slow
def test_onnx_export_with_a_fixed_input_size(tmp_path):
    _, keras_path = tiny_model("nlsn")
    out = tmp_path / "nlsn_24x32.onnx"
    metadata = export_model(keras_path, out, format="onnx", input_size=(24, 32))
    assert metadata["input"]["shape"] == [None, 24, 32, 3]
    assert metadata["output"]["shape"] == [None, 48, 64, 3]
    runner = OnnxRunner(out)
    assert runner.input_size == (24, 32)
    assert runner(lr_image(20, 30)).shape == (1, 40, 60, 3)  # padded, cropped


def test_onnx_option_errors_name_the_input(tmp_path):
    from keras_enlca.errors import InputError

    _, keras_path = tiny_model("edsr")
    with pytest.raises(InputError, match=r"must end with \.onnx"):
        export_model(keras_path, tmp_path / "m.tflite", format="onnx")
    with pytest.raises(
        InputError,
        match="--quantize applies to --format tflite only: ONNX exports take "
        "--quantize none, float16, not int8",
    ):
        export_model(keras_path, tmp_path / "m.onnx", format="onnx", quantize="int8")
    assert os.listdir(tmp_path) == []
