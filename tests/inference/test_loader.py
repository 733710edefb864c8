import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.inference import KerasRunner
from keras_enlca.inference import LiteRTRunner
from keras_enlca.inference.loader import model_format
from keras_enlca.inference.loader import open_runner
from tests.export.artifacts import artifact
from tests.export.artifacts import tiny_model


def test_format_detection_and_errors(tmp_path):
    _, keras_path = tiny_model("edsr")
    tflite = artifact("edsr", "none")
    saved = artifact("edsr", "savedmodel")
    assert model_format(keras_path) == "keras"
    assert model_format(tflite) == "tflite"
    assert model_format(saved) == "savedmodel"
    # Content decides when the extension does not.
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(open(tflite, "rb").read())
    assert model_format(renamed) == "tflite"

    with pytest.raises(InputError, match="no such model"):
        model_format(tmp_path / "missing.tflite")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="not a SavedModel"):
        model_format(tmp_path / "folder")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown model format"):
        model_format(tmp_path / "notes.txt")
    (tmp_path / "broken.tflite").write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match="not a TFLite flatbuffer"):
        open_runner(tmp_path / "broken.tflite")
    (tmp_path / "broken.keras").write_bytes(b"PK\3\4 not a zip")
    with pytest.raises(InputError, match="not a .keras model .* 14 bytes"):
        open_runner(tmp_path / "broken.keras")


def test_every_truncation_of_a_model_file_is_a_one_line_error(tmp_path):
    """A .tflite or .keras cut anywhere is an `InputError` naming the file.

    Before: a .tflite cut short raised `struct.error: unpack_from requires a
    buffer...` and a .keras that is not a zip said "File not found".
    """
    tflite = open(artifact("edsr", "none"), "rb").read()
    keras_bytes = open(tiny_model("edsr")[1], "rb").read()
    cuts = {
        ".tflite": sorted(
            {0, 4, 8, 100, len(tflite) - 1}
            | set(np.linspace(9, len(tflite) - 2, 150).astype(int))
        ),
        ".keras": sorted({0, 1, 100, len(keras_bytes) // 2, len(keras_bytes) - 1}),
    }
    contents = {".tflite": tflite, ".keras": keras_bytes}
    tried = 0
    for ext, lengths in cuts.items():
        path = tmp_path / f"cut{ext}"
        for length in lengths:
            path.write_bytes(contents[ext][:length])
            with pytest.raises(InputError) as caught:
                open_runner(path)
            message = str(caught.value)
            assert message.startswith(str(path)) and "\n" not in message, message
            tried += 1
    assert tried == len(cuts[".tflite"]) + len(cuts[".keras"]) > 150
    path = tmp_path / "cut.tflite"
    path.write_bytes(tflite[:-1])
    truncated = (
        r"not a complete TFLite model \(\d+ bytes; the file is truncated or damaged\)"
    )
    with pytest.raises(InputError, match=truncated):
        LiteRTRunner(path)
    path = tmp_path / "notes.keras"
    path.write_text("not a model")
    with pytest.raises(
        InputError, match="not a .keras model .*11 bytes of something else"
    ):
        KerasRunner(path)


def test_opening_a_tflite_loads_no_tensorflow_runner_module():
    # `ModelRunner` knows none of its subclasses; `open_runner` imports only
    # the module of the runner it returns.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from keras_enlca.inference import open_runner\n"
        f"runner = open_runner({str(artifact('edsr', 'none'))!r})\n"
        "print(type(runner).__name__, runner.scale,"
        " sorted(m for m in ('keras_enlca.inference.keras_runner',"
        " 'keras_enlca.inference.saved_model_runner', 'tensorflow', 'keras')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "LiteRTRunner 2 []"
