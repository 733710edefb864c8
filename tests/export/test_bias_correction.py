import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.export.bias_correction import correct_biases
from keras_enlca.export.calibration import calibration_crops
from keras_enlca.export.calibration import representative_dataset
from keras_enlca.export.float_nodes import float_node_names
from keras_enlca.export.quantizer import calibrate
from keras_enlca.export.quantizer import op_type
from keras_enlca.export.quantizer import quantize_calibrated
from keras_enlca.export.saved_model import write_serving_saved_model
from keras_enlca.inference import LiteRTRunner
from keras_enlca.layers.resize_upsampling import ResizeUpsampling
from tests.export.artifacts import lr_image


def two_convs():
    """`nearest x2 (conv3x3(relu(conv3x3(x))))`, 3 -> 8 -> 3 channels."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(inputs)
    x = keras.layers.Conv2D(3, 3, padding="same", name="b")(x)
    outputs = ResizeUpsampling(2, name="up")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("b").set_weights(
        [model.get_layer("b").get_weights()[0] * 0.3, np.full(3, 0.4, "float32")]
    )
    return model


@pytest.fixture(scope="module")
def quantized():
    model = two_convs()
    crops = calibration_crops(num_crops=4, crop_size=[24, 32])
    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "saved")
        write_serving_saved_model(model, saved, batch=1, include_float=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved, signature_keys=["serving_default"]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(crops)
        calibrated = calibrate(converter)
    # int8 but for the uint8 conversions of the serving graph, as `int8`.
    content = quantize_calibrated(calibrated, "int8", float_node_names(calibrated, []))
    return model, calibrated, content, [crop for crop in crops]


def _shift_last_conv_bias(content, levels):
    """`content` with the last CONV_2D's int32 bias moved by `levels` grey
    levels of the output image (`levels / 255` in the [0, 1] output)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = model.subgraphs[0]
    convs = [op for op in graph.operators if op_type(model, op) == "CONV_2D"]
    assert len(convs) == 2
    bias = graph.tensors[convs[-1].inputs[2]]
    scales = np.asarray(bias.quantization.scale)
    buffer = model.buffers[bias.buffer]
    values = np.frombuffer(bytes(buffer.data), dtype=np.int32)
    moved = values + np.round(levels / 255.0 / scales).astype(np.int32)
    buffer.data = np.frombuffer(moved.astype(np.int32).tobytes(), dtype=np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _mean_error(content, model, tmp_path):
    """Per-channel mean of (artifact - Keras) on a photo crop, grey levels."""
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    image = lr_image(height=40, width=48)
    artifact = LiteRTRunner(str(path), num_threads=1)(image)[0]
    reference = np.clip(np.asarray(model(image))[0], 0.0, 1.0)
    return (artifact - reference).reshape(-1, 3).mean(axis=0) * 255.0


def test_a_shifted_bias_is_brought_back(quantized, tmp_path):
    model, calibrated, content, inputs = quantized
    shifted = _shift_last_conv_bias(content, 6.0)
    error = _mean_error(shifted, model, tmp_path)
    assert np.all(np.abs(error - 6.0) < 1.0), error
    corrected, summary = correct_biases(shifted, calibrated, inputs)
    assert summary["convolutions"] == 2
    # The shift was 6 levels = many output int8 steps of the last conv.
    assert summary["median_shift"] > 1.0
    after = _mean_error(corrected, model, tmp_path)
    assert np.all(np.abs(after) < 0.5), after


def test_an_unshifted_model_keeps_its_accuracy(quantized, tmp_path):
    model, calibrated, content, inputs = quantized
    before = np.abs(_mean_error(content, model, tmp_path))
    corrected, summary = correct_biases(content, calibrated, inputs)
    after = np.abs(_mean_error(corrected, model, tmp_path))
    assert summary["convolutions"] == 2
    assert np.all(after <= np.maximum(before, 0.25)), (before, after)
