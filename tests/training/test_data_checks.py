import os

import pytest

from keras_enlca.data import read_image
from keras_enlca.data import sample_images_dir
from keras_enlca.data import write_image
from keras_enlca.errors import InputError
from keras_enlca.training.config import config_from_dict
from keras_enlca.training.run import run_training


def _values(train_dir, **data):
    values = {
        "model": {"preset": "enlcn_small_x2", "args": {"num_blocks": 2, "filters": 8}},
        "data": {"train": {"dir": str(train_dir)}, "patch_size": 12, "batch_size": 2},
        "schedule": {"epochs": 1, "steps_per_epoch": 1},
    }
    values["data"].update(data)
    return values


def _photo(path, size):
    image = read_image(os.path.join(sample_images_dir(), "astronaut.png"))
    write_image(str(path), image[:size, :size])


def _case(tmp_path, kind):
    """A broken input of `kind`: returns (config values, run folder)."""
    train = tmp_path / "train"
    train.mkdir()
    run_dir = tmp_path / "run"
    if kind == "missing folder":
        return _values(tmp_path / "absent"), run_dir
    if kind == "no images":
        (train / "notes.txt").write_text("no image")
        return _values(train), run_dir
    _photo(train / "good.png", 64)
    if kind == "corrupt image":
        _photo(train / "bad.png", 64)
        data = (train / "bad.png").read_bytes()
        (train / "bad.png").write_bytes(data[: len(data) // 2])
    elif kind == "image smaller than the patch":
        _photo(train / "small.png", 20)
    elif kind == "too few contrastive keys":
        return _values(train, patch_size=6), run_dir
    elif kind == "output below a file":
        (tmp_path / "file").write_text("")
        return _values(train), tmp_path / "file" / "run"
    return _values(train), run_dir


CASES = {
    "missing folder": "'data.train.dir': folder '.*absent' does not exist",
    "no images": "No images found in .*train",
    "corrupt image": "'data.train.dir': cannot read training image .*bad.png",
    "image smaller than the patch": (
        r"'data.patch_size' 12: training image .*small.png is only 10x10 at LR \(x2\)"
    ),
    "too few contrastive keys": (
        "'data.patch_size' 6 gives 36 positions .* ranks 65 keys: use "
        "data.patch_size >= 9"
    ),
    "output below a file": "file is a file, not a folder",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_input_is_one_line_naming_it_and_nothing_is_written(tmp_path, kind):
    values, run_dir = _case(tmp_path, kind)
    with pytest.raises(InputError, match=CASES[kind]) as error:
        run_training(config_from_dict(values), run_dir, log=lambda line: None)
    assert "\n" not in str(error.value)
    assert not os.path.exists(run_dir)


def test_wrong_scale_is_a_config_error(tmp_path):
    values = _values(tmp_path)
    values["scale"] = 3
    with pytest.raises(InputError, match="scale") as error:
        config_from_dict(values)
    assert "\n" not in str(error.value)


def test_paper_form_or_no_contrastive_loss_allows_small_patches(tmp_path):
    from keras_enlca.training.data_checks import contrastive_keys_needed

    train = tmp_path
    assert (
        contrastive_keys_needed(config_from_dict(_values(train)), "enlcn_small_x2")
        == 65
    )
    for override in ("contrastive.form=paper", "contrastive.weight=0"):
        config = config_from_dict(_values(train), overrides=[override])
        assert contrastive_keys_needed(config, "enlcn_small_x2") == 0
    edsr = config_from_dict({"model": {"preset": "edsr_baseline_x2"}})
    assert contrastive_keys_needed(edsr, "edsr_baseline_x2") == 0
