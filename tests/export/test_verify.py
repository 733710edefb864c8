import os

import numpy as np
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data import sample_images_dir
from keras_enlca.errors import InputError
from keras_enlca.export import export_model
from keras_enlca.export import verify_artifact
from keras_enlca.export.verification_error import VerificationError
from keras_enlca.export.verify import check_drop
from keras_enlca.inference import KerasRunner
from keras_enlca.inference import LiteRTRunner
from tests.export.quantization_models import HUGE
from tests.export.quantization_models import upscaler


def test_check_drop_is_a_one_line_input_error():
    result = {"psnr_y_drop": 0.25, "images": 5}
    check_drop(result, None, "m.tflite")
    check_drop(result, 0.25, "m.tflite")
    try:
        check_drop(result, 0.1, "m.tflite")
    except VerificationError as error:
        assert isinstance(error, InputError)
        assert (
            "\n" not in str(error)
            and "0.250 dB" in str(error)
            and "0.1 dB" in str(error)
        )
        assert error.drop == 0.25 and error.max_drop == 0.1
    else:
        raise AssertionError("no VerificationError")


def test_verify_with_a_too_tight_max_drop_exits_1_and_keeps_other_files(tmp_path):
    keras_path = tmp_path / "hard.keras"
    upscaler(HUGE).save(keras_path)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    out = folder / "hard.tflite"
    # Measured here: the dynamic-range export differs from Keras by 0.001 dB,
    # so a budget of 0 is too tight.
    result = CliRunner().invoke(
        cli,
        [
            "export",
            str(keras_path),
            "--quantize",
            "dynamic",
            "--verify",
            sample_images_dir(),
            "--max-drop",
            "0",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: --verify: ")
    assert "over --max-drop 0 dB; removed it." in lines[0]
    assert sorted(os.listdir(folder)) == [
        "notes.txt"
    ]  # the export and its JSON removed
    assert (folder / "notes.txt").read_text() == "mine"


def test_verify_reports_the_drop_within_budget(tmp_path):
    out = tmp_path / "easy.tflite"
    metadata = export_model(
        upscaler(0.0),
        out,
        quantize="float16",
        verify=sample_images_dir(),
        max_drop=0.05,
    )
    result = metadata["verification"]
    assert result["images"] == 5 and abs(result["psnr_y_drop"]) <= 0.05
    again = verify_artifact(
        LiteRTRunner(out), KerasRunner(upscaler(0.0)), sample_images_dir(), max_images=2
    )
    assert again["images"] == 2
    assert np.isfinite(again["psnr_y_vs_keras"]) and again["psnr_y_vs_keras"] > 40
