import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.inference import LiteRTRunner
from keras_enlca.inference import SavedModelRunner
from keras_enlca.inference.metadata import metadata_path
from tests.export.artifacts import tiny_model
from tests.utils.faults import fill
from tests.utils.faults import listing
from tests.utils.faults import read_only_folder
from tests.utils.faults import run_cli_limited
from tests.utils.faults import tmpfs


def run(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert (
        "Examples:" in result.output and "enlca export enlcn_x2.keras" in result.output
    )
    for option in (
        "--format",
        "--quantize",
        "--calibration",
        "--input-size",
        "--target",
        "--out",
        "--verify",
    ):
        assert option in result.output


def test_export_tflite_with_a_fixed_input_size(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "models" / "edsr.tflite"
    result = run(keras_path, "--quantize", "float16", "--input-size", 24, 32, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"Wrote {out} (tflite, float16, EDSR x2, input 24x32, "
        f"{os.path.getsize(out) / 1e6:.2f} MB)"
    )
    runner = LiteRTRunner(out)
    assert runner.input_size == (24, 32) and runner.scale == 2
    with open(metadata_path(out)) as f:
        metadata = json.load(f)
    assert metadata["input_size"] == metadata["tile"] == [24, 32]
    assert metadata["quantization"] == "float16" and metadata["target"] == "cpu"
    # Runs whole on the TFLite GPU delegate; WebGPU leaves the float16
    # weights' DEQUANTIZE on the CPU (export.op_compatibility).
    assert metadata["gpu_fallback_ops"] == []
    assert metadata["web_fallback_ops"] == ["DEQUANTIZE"]
    assert metadata["gpu_placement"]["gpu"]["share"] == 1.0
    assert sorted(os.listdir(out.parent)) == ["edsr.tflite", "edsr.tflite.json"]


def test_tile_is_a_deprecated_alias_of_input_size(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr.tflite"
    result = run(keras_path, "--tile", 20, 28, "-o", out)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Warning: enlca export --tile is deprecated; use --input-size H W "
        "(--tile goes in the next release)."
    )
    assert LiteRTRunner(out).input_size == (20, 28)
    both = run(keras_path, "--tile", 16, 16, "--input-size", 16, 16, "-o", out)
    assert both.exit_code == 2 and "give one" in both.output


def test_a_gpu_or_web_target_warns_when_its_runtime_would_not_run_it_whole(tmp_path):
    """--target web: LiteRT.js WebGPU has no DEQUANTIZE kernel (float16
    weights), one warning line on stderr; --target gpu: the TFLite GPU
    delegate runs the float16 export whole, no warning."""
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "web.tflite"
    result = run(keras_path, "--target", "web", "--quantize", "float16", "-o", out)
    assert result.exit_code == 0, result.output
    with open(metadata_path(out)) as f:
        web = json.load(f)["gpu_placement"]["web"]
    dequantize = web["fallback"]["DEQUANTIZE"]["count"]
    assert list(web["fallback"]) == ["DEQUANTIZE"] and dequantize >= 1
    assert result.stderr.splitlines() == [
        f"Warning: {dequantize} of {web['ops']} ops would run on the CPU under "
        f"LiteRT.js WebGPU: DEQUANTIZE x{dequantize} (no kernel)."
    ]
    result = run(
        keras_path,
        "--target",
        "gpu",
        "--input-size",
        16,
        16,
        "-o",
        out.parent / "gpu.tflite",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    result = run(
        keras_path,
        "--input-size",
        16,
        16,
        "--quantize",
        "float16",
        "-o",
        out.parent / "cpu.tflite",
    )
    assert result.exit_code == 0 and result.stderr == ""  # cpu: no GPU runtime


def test_export_savedmodel(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr_savedmodel"
    result = run(keras_path, "--format", "savedmodel", "--out", out)
    assert result.exit_code == 0, result.output
    assert "(savedmodel, none, EDSR x2, input any size" in result.output
    assert SavedModelRunner(out).scale == 2


def test_errors_are_one_line(tmp_path):
    _, keras_path = tiny_model("edsr")
    cases = [
        (
            (tmp_path / "missing.keras", "-o", tmp_path / "m.tflite"),
            "no such model file",
        ),
        (
            (keras_path, "--scale", 4, "-o", tmp_path / "m.tflite"),
            "is a x2 model, but --scale 4",
        ),
        (
            (
                keras_path,
                "--format",
                "savedmodel",
                "--quantize",
                "int8",
                "-o",
                tmp_path / "sm",
            ),
            "--quantize applies to --format tflite only",
        ),
        (
            (keras_path, "--float-ops", "EXP", "-o", tmp_path / "m.tflite"),
            "--float-ops is only used with --quantize int8",
        ),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert message in lines[-1], result.output
        assert "Traceback" not in result.output
    assert os.listdir(tmp_path) == []
    # Exporting a .tflite is a wrong format, reported as such.
    tflite = tmp_path / "m.tflite"
    assert run(keras_path, "-o", tflite).exit_code == 0
    result = run(tflite, "-o", tmp_path / "again.tflite")
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: {tflite}: is a tflite model; export needs the .keras model.\n"
    )


def test_export_as_a_subprocess(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "edsr_int8.tflite"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_enlca.cli.main",
            "export",
            keras_path,
            "--quantize",
            "int8",
            "--calibration-crops",
            "2",
            "-o",
            out,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Wrote {out} (tflite, int8, EDSR x2")
    metadata = LiteRTRunner(out).metadata
    assert metadata["calibration"]["crops"] == 2
    assert metadata["range_method"] == "mse"  # the default
    assert metadata["narrowed_ranges"]["tensors"] > 0


def test_ranges_minmax_keeps_the_recorded_ranges(tmp_path):
    _, keras_path = tiny_model("edsr")
    out = tmp_path / "minmax.tflite"
    args = ("--quantize", "int8", "--calibration-crops", "2", "--ranges", "MinMax")
    result = run(keras_path, *args, "-o", out)
    assert result.exit_code == 0, result.output
    metadata = LiteRTRunner(out).metadata
    assert metadata["range_method"] == "minmax"
    assert "narrowed_ranges" not in metadata
    result = run(keras_path, "--quantize", "int8", "--ranges", "p99", "-o", out)
    assert (
        result.exit_code == 2 and "'p99' is not one of 'mse', 'minmax'" in result.output
    )


def test_an_existing_folder_or_file_is_never_emptied(tmp_path, monkeypatch):
    """Before: `-o v` deleted v's contents, `-o .` emptied the current folder."""
    _, keras_path = tiny_model("edsr")
    user = tmp_path / "v"
    (user / "sub").mkdir(parents=True)
    (user / "notes.txt").write_text("precious\n")
    for extra in ((), ("--overwrite",)):
        result = run(keras_path, "--format", "savedmodel", "-o", user, *extra)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert f"Error: --out {user}: " in result.output
    assert (
        "holds files that are not part of the output (notes.txt, sub)" in result.output
    )
    monkeypatch.chdir(user)
    for extra in ((), ("--overwrite",)):
        result = run(keras_path, "--format", "savedmodel", "-o", ".", *extra)
        assert result.output == (
            "Error: --out .: is the current folder (or one above it); give the output "
            "a new folder name.\n"
        )
    assert listing(user) == ["notes.txt", "sub"]
    assert (user / "notes.txt").read_text() == "precious\n"


def test_overwrite_replaces_only_the_earlier_export(tmp_path):
    _, keras_path = tiny_model("edsr")
    (tmp_path / "notes.txt").write_text("precious\n")
    saved, tflite = tmp_path / "sm", tmp_path / "m.tflite"
    assert run(keras_path, "--format", "savedmodel", "-o", saved).exit_code == 0
    assert run(keras_path, "-o", tflite).exit_code == 0
    before = listing(tmp_path)
    stamps = {p: os.stat(p).st_mtime_ns for p in (saved / "saved_model.pb", tflite)}
    for args in (("--format", "savedmodel", "-o", saved), ("-o", tflite)):
        result = run(keras_path, *args)
        assert result.exit_code == 1
        assert result.output.endswith(
            "pass --overwrite to replace an earlier export there.\n"
            if "savedmodel" in args
            else "already exists; pass --overwrite to replace it.\n"
        )
        assert run(keras_path, *args, "--overwrite").exit_code == 0
    assert listing(tmp_path) == before  # same files, no debris, notes.txt kept
    assert all(os.stat(p).st_mtime_ns != t for p, t in stamps.items())
    assert (tmp_path / "notes.txt").read_text() == "precious\n"
    assert LiteRTRunner(tflite).scale == 2 and SavedModelRunner(saved).scale == 2


def test_a_disk_that_fills_up(tmp_path):
    """A real 96 KiB filesystem: full before (found before any work), or filling up
    while the .tflite, its JSON or the SavedModel is written. Each time: exit 1,
    one line naming the final path, nothing of the export left."""
    _, keras_path = tiny_model("edsr")  # 4,555 weights: at least 18 kB; .tflite 24 kB
    with tmpfs(tmp_path / "disk", 96) as disk:
        (disk / "notes.txt").write_text("precious\n")
        out = disk / "m.tflite"
        fill(disk)
        result = run(keras_path, "-o", out)
        assert result.output == (
            f"Error: --out {out}: cannot write in {disk} (No space left on device: 0.0 "
            "MB free).\n"
        )
        os.remove(disk / "filler.bin")
        fill(disk, leave_bytes=20 * 1024)  # above the bound, below the .tflite
        cases = [(out, ()), (disk / "sm", ("--format", "savedmodel"))]
        for target, args in cases:
            result = run(keras_path, *args, "-o", target)
            assert result.exit_code == 1
            assert result.output == (
                f"Error: {target}: cannot write (No space left on device).\n"
            ), result.output
            assert listing(disk) == ["filler.bin", "notes.txt"]
        os.remove(disk / "filler.bin")
        fill(disk, leave_bytes=24 * 1024)  # the .tflite fits, its JSON does not
        result = run(keras_path, "-o", out)
        assert result.output == (
            f"Error: {metadata_path(out)}: cannot write (No space left on device).\n"
        )
        assert listing(disk) == ["filler.bin", "notes.txt"]


def test_a_read_only_folder_is_found_before_any_work(tmp_path):
    _, keras_path = tiny_model("edsr")
    with read_only_folder(tmp_path / "ro") as folder:
        for args in (
            ("-o", folder / "m.tflite"),
            ("--format", "savedmodel", "-o", folder / "new" / "sm"),
        ):
            result = run(keras_path, *args)
            assert result.exit_code == 1 and result.output.count("\n") == 1
            assert result.output.startswith(
                f"Error: --out {args[-1]}: cannot write in {folder} ("
            )
        assert listing(folder) == ["notes.txt"]


@pytest.mark.slow
def test_a_file_size_limit_in_a_real_process(tmp_path):
    """RLIMIT_FSIZE (SIGXFSZ ignored): writes past 20 kB fail with EFBIG.

    The SavedModel's 156 kB graph fails in the output folder; the TFLite
    conversion fails earlier, in its scratch SavedModel in TMPDIR.
    """
    import tempfile

    _, keras_path = tiny_model("edsr")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "out" / "sm"
    done = run_cli_limited(
        ["export", keras_path, "--format", "savedmodel", "-o", out],
        limit_bytes=20_000,
        env={"TMPDIR": scratch},
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: {out}: cannot write (File too large); the file-size limit of this "
        "shell (ulimit -f) is below the file's size; raise it (ulimit -f unlimited)."
    ]
    out = tmp_path / "out" / "m.tflite"
    done = run_cli_limited(
        ["export", keras_path, "-o", out], limit_bytes=20_000, env={"TMPDIR": scratch}
    )
    assert done.stderr.splitlines() == [
        f"Error: {out}: cannot write the conversion's temporary files in {scratch} "
        "(File too large); the file-size limit of this shell (ulimit -f) is below "
        "the file's size; raise it (ulimit -f unlimited)."
    ]
    assert done.returncode == 1 and listing(tmp_path) == ["scratch"]
    assert tempfile.gettempdir() != str(scratch)
