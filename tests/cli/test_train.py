import json
import os

import pytest
import yaml
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.data import read_image
from keras_enlca.data import sample_images_dir
from keras_enlca.data import write_image


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    for name in ("astronaut", "coffee"):
        image = read_image(os.path.join(sample_images_dir(), f"{name}.png"))
        write_image(str(folder / f"{name}.png"), image[:72, :72])
    return folder


def _run(*args):
    return CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)


def test_help_has_examples():
    result = _run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "enlca train --preset enlcn_x4 --data /data/DIV2K" in result.output
    assert "--set KEY=VALUE" in result.output


def test_print_config_applies_shortcuts_then_set(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: {preset: enlcn_x4}\ndata: {batch_size: 4}\n")
    result = _run(
        "--config",
        str(config),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "3",
        "--lr",
        "2e-4",
        "--xla",
        "--set",
        "schedule.epochs=5",
        "--set",
        "schedule.decay_milestones=[2, 4]",
        "--print-config",
    )
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["schedule"]["epochs"] == 5  # --set wins over --epochs
    assert printed["schedule"]["learning_rate"] == 2e-4
    assert printed["schedule"]["decay_milestones"] == [2, 4]
    assert printed["runtime"]["jit_compile"] is True
    assert printed["data"]["batch_size"] == 4 and printed["scale"] == 4
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize(
    "content, args, message",
    [
        (
            "model: {preset: enlcn_x4}\nschedule: {epoch: 3}\n",
            [],
            "c.yaml: unknown key 'schedule.epoch' (did you mean 'schedule.epochs'?)",
        ),
        (
            "model: {preset: enlcn_x4}\ndata: {batch_size: big}\n",
            [],
            "c.yaml: 'data.batch_size' must be an integer, got 'big'",
        ),
        ("model: {preset: enlcn_x9}\n", [], "unknown preset 'enlcn_x9'"),
        (
            "model: {preset: enlcn_x4}\n",
            ["--set", "runtime.seed"],
            "override 'runtime.seed' must look like KEY=VALUE",
        ),
        (
            "model: {preset: enlcn_x4}\n",
            ["--set", "model.args.blocks=3"],
            "'model.args.blocks' is not an argument of ENLCN",
        ),
        ("model: [1\n", [], "c.yaml' is not valid YAML (line 2): expected ','"),
    ],
)
def test_config_errors_are_one_line(tmp_path, content, args, message):
    config = tmp_path / "c.yaml"
    config.write_text(content)
    result = CliRunner().invoke(
        cli, ["train", "--config", str(config), "--out", str(tmp_path / "r"), *args]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_missing_inputs(tmp_path):
    result = CliRunner().invoke(
        cli, ["train", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path)]
    )
    assert (
        result.exit_code == 1
        and "config file '" in result.output
        and "none.yaml' does not exist" in result.output
    )
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "give --config FILE or --preset NAME" in result.output
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--preset",
            "edsr_small_x2",
            "--out",
            str(tmp_path / "r"),
            "--data",
            str(tmp_path / "nope"),
        ],
    )
    assert result.exit_code == 1
    assert (
        "'data.train.dir': folder '" in result.output
        and "nope' does not exist" in result.output
    )
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(
        cli, ["train", "--preset", "edsr_small_x2", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1 and "'data.train.dir' is not set" in result.output


def test_train_stop_and_resume_from_the_run_folder(train_dir, tmp_path):
    run_dir = tmp_path / "run"
    common = [
        "--out",
        str(run_dir),
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "2",
        "--patch-size",
        "12",
        "--set",
        "model.args={num_blocks: 1, filters: 8}",
    ]
    first = _run(
        "--preset",
        "edsr_small_x2",
        "--data",
        str(train_dir),
        "--time-limit",
        "1e-9",
        *common,
    )
    assert first.exit_code == 0, first.output
    assert "Training edsr_small_x2 (x2) for 4 steps (2 epochs of 2)" in first.output
    assert (
        "Stopped (time limit) at step 1 of 4; run the same command again to continue."
        in first.output
    )
    assert not (run_dir / "model.keras").exists()

    # The saved config is enough to continue (the time limit is part of it).
    second = _run("--out", str(run_dir), "--set", "runtime.time_limit_minutes=null")
    assert second.exit_code == 0, second.output
    assert (
        "Config changed since the last invocation: runtime.time_limit_minutes"
        in second.output
    )
    assert f"Resuming {run_dir} at step 1 of 4 (epoch 1)." in second.output
    assert "epoch 2/2  step 4/4" in second.output
    assert f"Done: 4 steps. Model: {run_dir / 'model.keras'}" in second.output
    history = json.loads((run_dir / "history.json").read_text())
    assert [(r["step"], r["steps"]) for r in history] == [(2, 1), (4, 2)]
    assert f"Final epoch 2: loss {history[-1]['loss']:.5f}" in second.output

    third = _run("--out", str(run_dir))
    assert third.exit_code == 0 and "is complete: 4 of 4 steps done" in third.output


@pytest.mark.parametrize(
    "in_file, option, expected",
    [
        ("epochs: 5", ["--total-steps", "7"], (None, 7)),
        ("total_steps: 7", ["--epochs", "3"], (3, None)),
        ("epochs: 5", ["--set", "schedule.total_steps=9"], (None, 9)),
    ],
)
def test_command_line_run_length_replaces_the_files(
    tmp_path, in_file, option, expected
):
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {{preset: enlcn_x4}}\nschedule: {{{in_file}}}\n")
    result = _run(
        "--config", str(config), "--out", str(tmp_path / "r"), *option, "--print-config"
    )
    assert result.exit_code == 0, result.output
    schedule = yaml.safe_load(result.output)["schedule"]
    assert (schedule["epochs"], schedule["total_steps"]) == expected


def test_both_run_lengths_on_the_command_line_are_an_error(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--preset",
            "enlcn_x4",
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "2",
            "--total-steps",
            "5",
            "--print-config",
        ],
    )
    assert result.exit_code == 1
    assert (
        "set exactly one of 'schedule.epochs' and 'schedule.total_steps'"
        in result.output
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--patch-size", "6"], "'data.patch_size' 6 gives 36 positions"),
        (["--patch-size", "40"], "'data.patch_size' 40: training image"),
    ],
)
def test_data_errors_are_one_line_before_the_run_folder(
    train_dir, tmp_path, args, message
):
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--preset",
            "enlcn_small_x2",
            "--data",
            str(train_dir),
            "--out",
            str(tmp_path / "r"),
            *args,
        ],
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
