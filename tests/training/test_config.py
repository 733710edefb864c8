import json
import os

import pytest

from keras_enlca.errors import InputError
from keras_enlca.models import list_presets
from keras_enlca.training.config import TrainConfig
from keras_enlca.training.config import config_from_dict
from keras_enlca.training.config import diff_configs
from keras_enlca.training.config import dump_config
from keras_enlca.training.config import load_config
from keras_enlca.training.config import parse_override
from keras_enlca.training.config import resolve_preset

PRESETS = list_presets()


def test_defaults_are_the_reference_schedule():
    config = config_from_dict({"model": {"preset": "enlcn_x4"}})
    assert config.schedule.learning_rate == 1e-4
    assert config.schedule.decay_milestones == [200, 400, 600, 800]
    assert config.schedule.decay_factor == 0.5
    assert (config.schedule.beta_1, config.schedule.beta_2) == (0.9, 0.999)
    assert config.data.patch_size == 48 and config.data.batch_size == 16
    assert config.total_steps == 1_000_000 and config.num_epochs == 1000
    # Reference: L1 only while `last_epoch <= 100`, i.e. 101 epochs.
    assert config.contrastive.weight == 1e-3
    assert config.contrastive_warmup_steps == 101_000
    assert config.schedule.projection_redraw_interval == 640


def test_a2n_family_defaults_and_file_wins(tmp_path):
    config = config_from_dict({"model": {"preset": "a2n_m_x2"}})
    assert config.schedule.learning_rate == 5e-4
    assert config.data.batch_size == 32 and config.data.patch_size == 64
    assert config.schedule.decay_milestones == list(range(200, 2000, 200))
    path = tmp_path / "a2n.yaml"
    path.write_text("model: {preset: a2n_x4}\ndata: {batch_size: 8}\n")
    config = load_config(path)
    assert config.data.batch_size == 8 and config.schedule.learning_rate == 5e-4


def test_yaml_json_and_overrides(tmp_path):
    values = {
        "model": {"preset": "enlcn_small_x2", "args": {"num_blocks": 4}},
        "data": {"train": {"dir": "/data/hr"}, "batch_size": 4},
        "schedule": {"epochs": 3, "steps_per_epoch": 10, "learning_rate": "2e-4"},
    }
    (tmp_path / "c.json").write_text(json.dumps(values))
    config = load_config(
        tmp_path / "c.json",
        overrides=[
            "schedule.epochs=5",
            "model.args.filters=8",
            "schedule.decay_milestones=[2, 4]",
            "runtime.mixed_precision=true",
            "contrastive.warmup_epochs=null",
            "contrastive.warmup_steps=7",
        ],
    )
    assert config.schedule.epochs == 5 and config.total_steps == 50
    assert config.schedule.learning_rate == 2e-4  # YAML reads "2e-4" as a string
    assert config.model.args == {"num_blocks": 4, "filters": 8}
    assert config.schedule.decay_milestones == [2, 4]
    assert config.runtime.mixed_precision is True
    assert config.contrastive_warmup_steps == 7
    assert config.data.train.dir == "/data/hr" and config.data.train.type == "auto"
    # A YAML file with the same content gives the same config.
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(values))
    assert (
        load_config(tmp_path / "c.yaml").to_dict()
        == load_config(tmp_path / "c.json").to_dict()
    )


def test_total_steps_makes_a_short_last_epoch():
    # Setting total_steps alone clears the recipe's epochs.
    config = config_from_dict(
        {"model": {"preset": "enlcn_x2"}},
        overrides=["schedule.total_steps=25", "schedule.steps_per_epoch=10"],
    )
    assert config.schedule.epochs is None
    assert config.total_steps == 25 and config.num_epochs == 3
    config = config_from_dict(
        {"model": {"preset": "enlcn_x2"}, "contrastive": {"warmup_steps": 30}}
    )
    assert config.contrastive.warmup_epochs is None
    assert config.contrastive_warmup_steps == 30


def test_small_and_edsr_presets_take_their_recipes():
    config = config_from_dict({"model": {"preset": "enlcn_small_x2"}})
    assert (config.data.batch_size, config.data.patch_size) == (8, 32)
    assert config.schedule.steps_per_epoch == 100 and config.schedule.epochs == 50
    assert config.schedule.decay_milestones == [20, 40]
    assert config.contrastive_warmup_steps == 1000
    config = config_from_dict({"model": {"preset": "edsr_x2"}})
    assert config.contrastive.weight == 0.0 and config.schedule.epochs == 300
    assert config.schedule.projection_redraw_interval is None


@pytest.mark.parametrize(
    "values, overrides, message",
    [
        ({"modle": {}}, [], "unknown key 'modle' (did you mean 'model'?)"),
        (
            {"schedule": {"epoch": 3}},
            [],
            "unknown key 'schedule.epoch' (did you mean 'schedule.epochs'?)",
        ),
        (
            {"schedule": {"epochs": "ten"}},
            [],
            "'schedule.epochs' must be an integer or null, got 'ten'",
        ),
        ({"schedule": {"epochs": 2.5}}, [], "'schedule.epochs' must be an integer"),
        (
            {"runtime": {"jit_compile": "yes"}},
            [],
            "'runtime.jit_compile' must be true/false",
        ),
        (
            {"schedule": {"decay_milestones": [2, "x"]}},
            [],
            "'schedule.decay_milestones[1]' must be an integer",
        ),
        ({"data": 3}, [], "'data' must be a mapping"),
        (
            {},
            ["data.batchsize=4"],
            "unknown key 'data.batchsize' (did you mean 'data.batch_size'?)",
        ),
        (
            {},
            ["runtime.strategy=tpu"],
            "'runtime.strategy' must be one of auto, one_device, mirrored",
        ),
        (
            {},
            ["schedule.total_steps=10", "schedule.epochs=3"],
            "set exactly one of 'schedule.epochs' and 'schedule.total_steps'",
        ),
        (
            {},
            ["schedule.decay_milestones=[4, 2]"],
            "'schedule.decay_milestones' must be increasing",
        ),
        ({}, ["data.batch_size=0"], "'data.batch_size' must be > 0, got 0"),
        (
            {},
            ["data.train.type=paired"],
            "'data.train.lr_dir' is required for paired data",
        ),
        ({}, ["data.train.range=1..800"], "'data.train.range' must look like '1-800'"),
        (
            {},
            ["contrastive.warmup_steps=5", "contrastive.warmup_epochs=2"],
            "set at most one of 'contrastive.warmup_epochs'",
        ),
        ({}, ["epochs"], "override 'epochs' must look like KEY=VALUE"),
        (
            {},
            ["model.args.num_blockz=3"],
            "'model.args.num_blockz' is not an argument of ENLCN (did you mean "
            "'num_blocks'?",
        ),
        (
            {},
            ["model.args.scale=3"],
            "'model.args.scale': set the top-level 'scale' instead",
        ),
    ],
)
def test_errors_name_the_key(values, overrides, message):
    values = {"model": {"preset": "enlcn_x2"}, **values}
    with pytest.raises(InputError) as info:
        config_from_dict(values, source="run.yaml", overrides=overrides)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    if not overrides:
        assert text.startswith("run.yaml: ")


def test_missing_preset_and_bad_files(tmp_path):
    with pytest.raises(InputError, match="'model.preset' is not set"):
        config_from_dict({})
    with pytest.raises(InputError, match="config file '.*nope.yaml' does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  preset: [enlcn\n")
    with pytest.raises(InputError, match=r"bad.yaml' is not valid YAML \(line \d+\)"):
        load_config(bad)
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": }')
    with pytest.raises(InputError, match=r"bad.json' is not valid JSON \(line 1\)"):
        load_config(bad)
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="must hold a mapping"):
        load_config(bad)


def test_resolve_preset():
    config = config_from_dict({"model": {"preset": "enlcn_x4"}})
    assert resolve_preset(config, PRESETS) == ("enlcn_x4", 4)
    config = config_from_dict({"model": {"preset": "enlcn_small"}, "scale": 2})
    assert resolve_preset(config, PRESETS) == ("enlcn_small_x2", 2)
    assert config_from_dict({"model": {"preset": "enlcn_x4"}}).scale == 4  # filled in
    assert config.data.batch_size == 8  # the recipe of enlcn_small_x2
    # Preset problems are found while loading.
    with pytest.raises(
        InputError, match="'scale' is 2 but 'model.preset' enlcn_x4 is x4"
    ):
        config_from_dict({"model": {"preset": "enlcn_x4"}, "scale": 2})
    with pytest.raises(InputError, match="has no scale suffix"):
        config_from_dict({"model": {"preset": "enlcn"}})
    with pytest.raises(
        InputError, match="unknown preset 'enlcm_x4' \\(did you mean 'enlcn_x4'\\?\\)"
    ):
        config_from_dict({"model": {"preset": "enlcm_x4"}})


def test_preset_argument_and_dump_roundtrip(tmp_path):
    config = config_from_dict({"model": {"preset": "enlcn_x4"}}, preset="a2n_x4")
    assert config.model.preset == "a2n_x4"
    assert config.schedule.learning_rate == 5e-4  # family defaults follow the preset
    dump_config(config, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again.to_dict() == config.to_dict()
    assert diff_configs(config.to_dict(), again.to_dict()) == []
    changed = load_config(
        tmp_path / "config.yaml",
        overrides=["schedule.epochs=3", "model.args.num_blocks=4"],
    )
    assert diff_configs(config.to_dict(), changed.to_dict()) == [
        "model.args.num_blocks",
        "schedule.epochs",
    ]
    assert isinstance(again, TrainConfig)


def test_parse_override_values():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a.b=1e-3") == ("a.b", "1e-3")
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("a.b=some/path") == ("a.b", "some/path")
    assert parse_override("a.b=") == ("a.b", None)


CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


def test_paper_config_is_the_reference_recipe():
    config = load_config(os.path.join(CONFIGS, "enlcn_x4_paper.yaml"))
    assert (
        config.total_steps == 1_000_000 and config.contrastive_warmup_steps == 101_000
    )
    assert (config.data.patch_size * config.scale, config.data.batch_size) == (192, 16)
    assert config.data.train.type == "div2k" and config.data.train.range == "1-800"
    assert config.contrastive.form == "code"
    # Identical to `--preset enlcn_x4` apart from the data folders and the
    # explicit contrastive form.
    preset_only = config_from_dict({}, preset="enlcn_x4").to_dict()
    from_file = config.to_dict()
    assert sorted(diff_configs(preset_only, from_file)) == [
        "contrastive.form",
        "data.train.dir",
        "data.train.range",
        "data.train.type",
        "data.validation",
    ]


def test_small_cpu_config():
    config = load_config(
        os.path.join(CONFIGS, "enlcn_small_cpu.yaml"),
        overrides=["data.train.dir=photos"],
    )
    assert config.model.preset == "enlcn_small_x2" and config.scale == 2
    assert config.total_steps == 1000 and config.contrastive_warmup_steps == 250
    assert (
        config.schedule.learning_rate == 5e-4
        and config.schedule.decay_milestones == [10, 15]
    )
    assert config.data.train.dir == os.path.abspath("photos")


def test_run_config_data_paths_travel(tmp_path, monkeypatch):
    from keras_enlca.training.config import dump_config
    from keras_enlca.training.config import read_run_config

    demo = tmp_path / "demo"
    (demo / "data" / "train").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    config = config_from_dict(
        {
            "model": {"preset": "edsr_small_x2"},
            "data": {
                "train": {"dir": "demo/data/train"},
                "validation": {"dir": "/elsewhere/Set5"},
            },
        }
    )
    assert config.data.train.dir == str(demo / "data" / "train")
    dump_config(config, demo / "run" / "config.yaml")
    text = (demo / "run" / "config.yaml").read_text()
    # Beside the run folder: stored relative to it; elsewhere: absolute.
    assert "dir: ../data/train" in text and "dir: /elsewhere/Set5" in text
    moved = tmp_path / "moved"
    os.rename(demo, moved)
    monkeypatch.chdir("/")
    values = read_run_config(moved / "run" / "config.yaml")
    assert values["data"]["train"]["dir"] == str(moved / "data" / "train")
    assert values["data"]["validation"]["dir"] == "/elsewhere/Set5"
