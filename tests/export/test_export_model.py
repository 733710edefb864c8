import json
import os

import pytest

from keras_enlca.data import sample_image_paths
from keras_enlca.errors import InputError
from keras_enlca.export import export_model
from keras_enlca.inference import read_artifact_metadata
from keras_enlca.inference.metadata import metadata_path
from keras_enlca.models import count_parameters
from tests.export.artifacts import tiny_model


@pytest.fixture(scope="module")
def verify_dir(tmp_path_factory):
    """Two bundled photos as HR ground truth."""
    folder = tmp_path_factory.mktemp("hr")
    for path in sample_image_paths()[1:3]:
        os.symlink(path, folder / os.path.basename(path))
    return folder


def test_export_with_verification_writes_the_numbers(tmp_path, verify_dir):
    model, keras_path = tiny_model("enlcn")
    out = tmp_path / "enlcn.tflite"
    metadata = export_model(
        keras_path, out, quantize="float16", verify=verify_dir, scale=2
    )
    with open(metadata_path(out)) as f:
        assert json.load(f) == metadata
    assert metadata["network"] == "ENLCN" and metadata["scale"] == 2
    assert metadata["parameters"] == count_parameters(model)
    assert metadata["quantization"] == "float16" and metadata["tile"] is None
    assert metadata["source_model"] == os.path.abspath(keras_path)
    assert metadata["size_bytes"] == os.path.getsize(out)
    result = metadata["verification"]
    assert result["images"] == 2 and result["scale"] == 2
    assert [row["image"] for row in result["per_image"]] == [
        "chelsea.png",
        "coffee.png",
    ]
    # float16 weights: a few 8-bit levels differ at most.
    assert result["psnr_y_vs_keras"] >= 55.0
    assert abs(result["psnr_y_drop"]) < 0.05
    for row in result["per_image"]:
        assert (
            5.0 < row["psnr_y_keras_vs_hr"] < row["psnr_y_bicubic_vs_hr"]
        )  # untrained
    # The embedded copy is the metadata before verification.
    assert read_artifact_metadata(out)["verification"] == result
    os.remove(metadata_path(out))
    embedded = read_artifact_metadata(out)
    assert "verification" not in embedded and embedded["network"] == "ENLCN"


def test_int8_records_calibration_and_float_ops(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr_int8.tflite"
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    os.symlink(sample_image_paths()[0], calibration / "a.png")
    metadata = export_model(
        keras_path,
        out,
        quantize="int8",
        calibration=calibration,
        num_calibration_crops=3,
        calibration_crop_size=24,
    )
    assert metadata["float_ops"] == ["SOFTMAX", "BATCH_MATMUL"]
    # No attention layer; the 3-channel layers at both ends stay float.
    assert metadata["float_layers"] == [
        "input_scaling",
        "sub_mean",
        "head",
        "tail",
        "add_mean",
        "output_scaling",
    ]
    assert metadata["calibration"] == {
        "source": str(calibration),
        "crops": 3,
        "crop_size": [24, 24],
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"format": "savedmodel", "quantize": "int8"},
            "--quantize applies to --format tflite",
        ),
        ({"calibration": "x"}, "--calibration is only used with --quantize int8"),
        ({"format": "coreml"}, "--format must be one of"),
        ({"quantize": "int4"}, "--quantize must be one of"),
        ({"scale": 3}, "is a x2 model, but --scale 3"),
        ({"verify": "missing_folder"}, "Folder not found: missing_folder"),
        ({"tile": (4, 0)}, "--tile must be two positive sizes"),
    ],
)
def test_argument_errors_name_the_input(tmp_path, kwargs, message):
    _, keras_path = tiny_model("edsr")
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        export_model(keras_path, tmp_path / "out.tflite", **kwargs)
    assert os.listdir(tmp_path) == []


def test_output_and_model_path_errors(tmp_path):
    _, keras_path = tiny_model("edsr")
    with pytest.raises(InputError, match="must end with .tflite"):
        export_model(keras_path, tmp_path / "model.tfl")
    with pytest.raises(InputError, match="SavedModel is a folder"):
        export_model(keras_path, tmp_path / "model.tflite", format="savedmodel")
    with pytest.raises(InputError, match="no such model file"):
        export_model(tmp_path / "missing.keras", tmp_path / "m.tflite")
    assert os.listdir(tmp_path) == []


def test_a_failure_after_the_write_leaves_nothing(tmp_path):
    """The artifact is written, then verification fails on a broken image:
    the new artifact and its JSON go, the user's file beside them stays."""
    _, keras_path = tiny_model("edsr")
    verify = tmp_path / "hr"
    verify.mkdir()
    (verify / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "notes.txt").write_text("precious")
    for fmt, out in (
        ("tflite", tmp_path / "m.tflite"),
        ("savedmodel", tmp_path / "sm"),
    ):
        with pytest.raises(InputError, match="broken.png"):
            export_model(keras_path, out, format=fmt, verify=verify)
        assert sorted(os.listdir(tmp_path)) == ["hr", "notes.txt"]
    # With overwrite, a failure before the new artifact is in place (calibration
    # reads the broken image) keeps the old one.
    old = tmp_path / "m.tflite"
    export_model(keras_path, old)
    before = old.read_bytes()
    with pytest.raises(InputError, match="broken.png"):
        export_model(
            keras_path, old, quantize="int8", calibration=verify, overwrite=True
        )
    assert old.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [
        "hr",
        "m.tflite",
        "m.tflite.json",
        "notes.txt",
    ]
