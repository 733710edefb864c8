import json
import os
import shutil

import pytest

from keras_enlca.errors import InputError
from keras_enlca.inference import model_info
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.inference.model_info import format_info
from keras_enlca.models import count_parameters
from tests.export.artifacts import artifact
from tests.export.artifacts import tiny_model


def test_info_of_the_three_formats():
    model, keras_path = tiny_model("enlcn")
    parameters = count_parameters(model)
    info = model_info(keras_path)
    assert (info["format"], info["network"], info["scale"]) == ("keras", "ENLCN", 2)
    assert info["parameters"] == parameters
    assert info["input"]["range"] == [0.0, 1.0]
    for variant, fmt in (("savedmodel", "savedmodel"), ("int8", "tflite")):
        info = model_info(artifact("enlcn", variant))
        assert (info["format"], info["network"], info["scale"]) == (fmt, "ENLCN", 2)
        assert info["parameters"] == parameters
        assert info["input"]["dtype"] == "uint8" and info["input"]["range"] == [0, 255]
    assert info["quantization"] == "int8" and info["tile"] is None
    lines = format_info(info)
    assert "network:       ENLCN" in lines and "scale:         x2" in lines
    assert f"parameters:    {parameters:,}" in lines
    assert "quantization:  int8" in lines and "tile:          any size" in lines
    assert "input:         uint8 NHWC RGB in [0, 255], shape 1x?x?x3" in lines


def test_info_without_metadata_reads_the_model(tmp_path):
    copy = tmp_path / "bare_savedmodel"
    shutil.copytree(artifact("edsr", "savedmodel"), copy)
    shutil.rmtree(copy / "assets.extra")
    info = model_info(copy)
    assert info["scale"] == 2 and info["network"] is None
    model, _ = tiny_model("edsr")
    assert info["parameters"] == sum(int(w.numpy().size) for w in model.weights)
    assert "network:       unknown (no metadata)" in format_info(info)


def test_metadata_that_disagrees_with_the_model_is_an_error(tmp_path):
    source = artifact("edsr", "none")
    copy = tmp_path / "model.tflite"
    shutil.copy(source, copy)
    with open(metadata_path(source)) as f:
        metadata = json.load(f)
    metadata["scale"] = 4
    with open(metadata_path(copy), "w") as f:
        json.dump(metadata, f)
    with pytest.raises(InputError, match="metadata says x4, but the model upscales x2"):
        model_info(copy)
    with open(metadata_path(copy), "w") as f:
        f.write("{not json")
    with pytest.raises(InputError, match="cannot read the model metadata JSON"):
        model_info(copy)
    os.remove(metadata_path(copy))
    assert model_info(copy)["scale"] == 2  # the embedded copy is right
