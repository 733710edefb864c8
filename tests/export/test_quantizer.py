import os

import keras
import numpy as np
import tensorflow as tf

from keras_enlca.evaluation.metrics import psnr
from keras_enlca.export.calibration import calibration_crops
from keras_enlca.export.calibration import representative_dataset
from keras_enlca.export.float_nodes import float_node_names
from keras_enlca.export.quantizer import SATURATION_LOGIT
from keras_enlca.export.quantizer import calibrate
from keras_enlca.export.quantizer import clamp_saturating_ranges
from keras_enlca.export.quantizer import quantize_calibrated
from keras_enlca.export.saved_model import write_serving_saved_model
from keras_enlca.inference import KerasRunner
from keras_enlca.inference import LiteRTRunner
from keras_enlca.layers.resize_upsampling import ResizeUpsampling
from tests.export.artifacts import lr_image


def gated_upscaler():
    """`up(x * sigmoid(w (x - 0.5)))`, `w` = 8, 8, 1000 per channel.

    The third channel's logits span +-500 and set the one int8 scale of the
    logit tensor, as A2N's outliers do; the other two gates are graded.
    """
    inputs = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(3, 1, name="logits")(inputs)
    gated = keras.layers.Multiply(name="gate")(
        [inputs, keras.layers.Activation("sigmoid", name="sigmoid")(logits)]
    )
    model = keras.Model(inputs, ResizeUpsampling(2, name="upsample")(gated))
    slopes = np.array([8.0, 8.0, 1000.0], "float32")
    model.get_layer("logits").set_weights([np.diag(slopes)[None, None], -slopes / 2])
    return model


def test_sigmoid_inputs_are_clamped_where_the_integer_sigmoid_saturates(tmp_path):
    model = gated_upscaler()
    saved = os.path.join(tmp_path, "saved")
    write_serving_saved_model(model, saved, batch=1, include_float=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(
        calibration_crops(num_crops=4, crop_size=32)
    )
    calibrated = calibrate(converter)
    clamped, changed = clamp_saturating_ranges(calibrated, "int8")
    assert len(changed) == 1 and changed[0]["op"] == "LOGISTIC"
    assert changed[0]["min"] < -300 and changed[0]["max"] > 300
    assert changed[0]["clamped_to"] == SATURATION_LOGIT["int8"] == 6
    assert clamp_saturating_ranges(clamped, "int8")[1] == []  # nothing left to clamp

    image = lr_image()
    reference = KerasRunner(model)(image)[0]
    values = {}
    for name, content in (("raw", calibrated), ("clamped", clamped)):
        path = os.path.join(tmp_path, f"{name}.tflite")
        with open(path, "wb") as f:
            # The uint8 conversions stay float, as in every export.
            f.write(quantize_calibrated(content, "int8", float_node_names(content, [])))
        values[name] = psnr(
            LiteRTRunner(path, num_threads=1)(image)[0], reference, shave=2
        )
    # One int8 step of ~4 on +-500 logits rounds most gates to 0.5.
    assert values["clamped"] > values["raw"] + 3.0, values
