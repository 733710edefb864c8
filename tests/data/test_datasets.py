import os
import types

import numpy as np
import pytest

from keras_enlca.data.bicubic import bicubic_downscale
from keras_enlca.data.bicubic import imresize
from keras_enlca.data.datasets import SRDataset
from keras_enlca.data.datasets import first_images
from keras_enlca.data.datasets import open_data_source
from keras_enlca.data.datasets import open_dataset
from keras_enlca.data.datasets import open_datasets
from keras_enlca.data.io import write_image
from keras_enlca.errors import InputError


def _image(rng, height, width):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def make_benchmark(root, name, rng, scale=2, sizes=((24, 30), (26, 20))):
    """An EDSR benchmark set: HR/ and LR_bicubic/X{s}/{stem}x{s}.png."""
    for k, (height, width) in enumerate(sizes):
        lr, hr = bicubic_downscale(_image(rng, height, width), scale)
        write_image(os.path.join(root, name, "HR", f"img{k}.png"), hr)
        write_image(
            os.path.join(root, name, "LR_bicubic", f"X{scale}", f"img{k}x{scale}.png"),
            lr,
        )
    return os.path.join(root, name)


def test_benchmark_layout(tmp_path, rng):
    folder = make_benchmark(tmp_path, "Set5", rng)
    dataset = SRDataset.from_benchmark(folder, 2)
    assert dataset.name == "Set5" and len(dataset) == 2 and dataset.lr_source == "files"
    assert dataset.names == ["img0", "img1"]
    name, lr, hr = dataset[1]
    assert name == "img1" and lr.shape == (13, 10, 3) and hr.shape == (26, 20, 3)
    np.testing.assert_array_equal(lr, imresize(hr, 1 / 2))
    assert open_datasets(folder, 2)[0].lr_paths == dataset.lr_paths


def test_hr_is_cropped_top_left_to_lr_times_scale(tmp_path, rng):
    hr = _image(rng, 27, 23)  # not a multiple of 4
    lr = imresize(hr[:24, :20], 1 / 4)
    write_image(tmp_path / "S" / "HR" / "a.png", hr)
    write_image(tmp_path / "S" / "LR_bicubic" / "X4" / "ax4.png", lr)
    _, lr_read, hr_read = SRDataset.from_benchmark(tmp_path / "S", 4)[0]
    np.testing.assert_array_equal(hr_read, hr[:24, :20])
    np.testing.assert_array_equal(lr_read, lr)


def test_size_mismatch_names_the_pair(tmp_path, rng):
    write_image(tmp_path / "S" / "HR" / "a.png", _image(rng, 24, 24))
    write_image(tmp_path / "S" / "LR_bicubic" / "X2" / "ax2.png", _image(rng, 10, 12))
    dataset = SRDataset.from_benchmark(tmp_path / "S", 2)
    with pytest.raises(InputError, match=r"ax2\.png.*a\.png"):
        dataset.load(0)


def test_benchmark_missing_scale_and_missing_lr_file(tmp_path, rng):
    folder = make_benchmark(tmp_path, "Set14", rng, scale=2)
    with pytest.raises(InputError, match=r"X3 does not exist \(found X2\)"):
        SRDataset.from_benchmark(folder, 3)
    os.remove(os.path.join(folder, "LR_bicubic", "X2", "img1x2.png"))
    with pytest.raises(InputError, match="img1x2.png"):
        SRDataset.from_benchmark(folder, 2)


def test_benchmark_root_lists_standard_sets_first(tmp_path, rng):
    for name in ("Urban100", "B100", "Custom", "Set14", "Set5"):
        make_benchmark(tmp_path / "benchmark", name, rng, sizes=((24, 24),))
    names = [d.name for d in open_datasets(tmp_path / "benchmark", 2)]
    assert names == ["Set5", "Set14", "B100", "Urban100", "Custom"]
    with pytest.raises(InputError, match="holds 5 datasets"):
        open_dataset(tmp_path / "benchmark", 2)


def test_hr_folder_makes_lr_with_matlab_bicubic(tmp_path, rng):
    hr = _image(rng, 25, 31)
    write_image(tmp_path / "photos" / "p.png", hr)
    dataset = open_dataset(tmp_path / "photos", 3)
    assert dataset.lr_source == "bicubic" and dataset.name == "photos"
    _, lr, hr_cropped = dataset[0]
    np.testing.assert_array_equal(hr_cropped, hr[:24, :30])
    np.testing.assert_array_equal(lr, imresize(hr[:24, :30], 1 / 3))
    assert dataset.shapes(0) == ((8, 10), (24, 30))
    # The same through an HR/ subfolder without LR files.
    write_image(tmp_path / "set" / "HR" / "p.png", hr)
    assert open_dataset(tmp_path / "set", 3).lr_source == "bicubic"


def test_paired_folders_match_by_name(tmp_path, rng):
    hrs = {}
    for stem in ("baby", "bird", "bird2"):
        lr, hr = bicubic_downscale(_image(rng, 20, 24), 4)
        hrs[stem] = hr
        write_image(tmp_path / "pair" / "HR" / f"{stem}.png", hr)
        write_image(tmp_path / "pair" / "LR" / f"{stem}_LR_x4.png", lr)
    dataset = open_dataset(tmp_path / "pair", 4)
    assert dataset.name == "pair" and dataset.names == ["baby", "bird", "bird2"]
    assert [os.path.basename(p) for p in dataset.lr_paths] == [
        "baby_LR_x4.png",
        "bird_LR_x4.png",
        "bird2_LR_x4.png",
    ]
    np.testing.assert_array_equal(dataset[2][2], hrs["bird2"])
    direct = SRDataset.from_paired_folders(
        tmp_path / "pair" / "LR", tmp_path / "pair" / "HR", 4
    )
    assert direct.lr_paths == dataset.lr_paths
    os.remove(tmp_path / "pair" / "LR" / "bird_LR_x4.png")
    with pytest.raises(InputError, match="No LR image for HR bird.png"):
        open_dataset(tmp_path / "pair", 4)


def test_div2k_layout_and_range(tmp_path, rng):
    root = tmp_path / "DIV2K"
    for number, split in ((1, "train"), (2, "train"), (801, "valid"), (802, "valid")):
        lr, hr = bicubic_downscale(_image(rng, 16, 16), 2)
        write_image(root / f"DIV2K_{split}_HR" / f"{number:04d}.png", hr)
        write_image(
            root / f"DIV2K_{split}_LR_bicubic" / "X2" / f"{number:04d}x2.png", lr
        )
    train = SRDataset.from_div2k(root, 2, split="train")
    assert train.names == ["0001", "0002"] and train.lr_source == "files"
    assert train.lr_paths[1].endswith(os.path.join("X2", "0002x2.png"))
    valid = open_dataset(tmp_path, 2)  # finds DIV2K/ below the folder
    assert valid.name == "DIV2K valid" and valid.names == ["0801", "0802"]
    assert SRDataset.from_div2k(root, 2, data_range="2-801").names == ["0002", "0801"]
    # No LR folder for x4: LR images are made from the HR.
    assert SRDataset.from_div2k(root, 4, split="train").lr_source == "bicubic"
    with pytest.raises(InputError, match="numbered 900-910"):
        SRDataset.from_div2k(root, 2, data_range="900-910")
    with pytest.raises(InputError, match="data_range"):
        SRDataset.from_div2k(root, 2, data_range="1..5")


def test_bad_image_file_is_named(tmp_path, rng):
    folder = make_benchmark(tmp_path, "Set5", rng)
    with open(os.path.join(folder, "HR", "img0.png"), "wb") as f:
        f.write(b"\x89PNG broken")
    dataset = open_dataset(folder, 2)
    with pytest.raises(InputError, match="img0.png"):
        dataset.load(0)


def test_folder_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        open_datasets(tmp_path / "missing", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="No images found"):
        open_datasets(tmp_path / "empty", 2)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(InputError, match="got a file"):
        open_datasets(tmp_path / "file.png", 2)
    (tmp_path / "emptyset" / "HR").mkdir(parents=True)
    with pytest.raises(InputError, match="No images in"):
        open_datasets(tmp_path / "emptyset", 2)
    for bad in (5, 1, 2.5, "x"):
        with pytest.raises(InputError, match="Unsupported scale"):
            open_datasets(tmp_path, bad)


def test_generated_lr_border_mode(tmp_path, rng):
    hr = _image(rng, 24, 24)
    write_image(tmp_path / "hr" / "a.png", hr)
    _, lr, _ = open_dataset(tmp_path / "hr", 4, border="replicate")[0]
    np.testing.assert_array_equal(lr, imresize(hr, 1 / 4, border="replicate"))
    assert not np.array_equal(lr, open_dataset(tmp_path / "hr", 4)[0][1])


def _source(dir=None, type="auto", lr_dir=None, range=None):
    dir, lr_dir = (None if p is None else str(p) for p in (dir, lr_dir))
    return types.SimpleNamespace(type=type, dir=dir, lr_dir=lr_dir, range=range)


def test_open_data_source_types_and_config_key_errors(tmp_path, rng):
    root = tmp_path / "data" / "DIV2K"
    for number, split in ((1, "train"), (2, "train"), (3, "train"), (801, "valid")):
        write_image(
            root / f"DIV2K_{split}_HR" / f"{number:04d}.png", _image(rng, 16, 16)
        )
    # div2k: the layout one folder down, the range honoured.
    source = _source(tmp_path / "data", "div2k", range="2-3")
    (train,) = open_data_source(source, 2, "train", "k")
    assert train.name == "DIV2K train" and train.names == ["0002", "0003"]
    assert train.lr_source == "bicubic"
    (valid,) = open_data_source(_source(root, "div2k"), 2, "valid", "k")
    assert valid.names == ["0801"]
    # auto without lr_dir: the detected layout (DIV2K/ below it here).
    (auto,) = open_data_source(_source(tmp_path / "data"), 2, "train", "k")
    assert auto.hr_paths == SRDataset.from_div2k(root, 2, split="train").hr_paths
    # folder: every image, LR made on load.
    source = _source(root / "DIV2K_train_HR", "folder")
    (folder,) = open_data_source(source, 2, "train", "k")
    assert folder.names == ["0001", "0002", "0003"] and folder.lr_source == "bicubic"
    # auto with lr_dir: paired folders.
    lr_dir = tmp_path / "lr"
    for stem in ("0001", "0002", "0003"):
        write_image(lr_dir / f"{stem}x2.png", _image(rng, 8, 8))
    source = _source(root / "DIV2K_train_HR", lr_dir=lr_dir)
    (paired,) = open_data_source(source, 2, "train", "k")
    names = [os.path.basename(p) for p in paired.lr_paths]
    assert names == ["0001x2.png", "0002x2.png", "0003x2.png"]

    with pytest.raises(InputError, match=r"^'data.validation.dir' is not set$"):
        open_data_source(_source(), 2, "valid", "data.validation")
    missing = _source(tmp_path / "nowhere")
    with pytest.raises(
        InputError,
        match=r"^'data.train.dir': folder '.*nowhere' does not exist; if the data "
        r"moved, pass --set data.train.dir=FOLDER$",
    ):
        open_data_source(missing, 2, "train", "data.train")
    missing = _source(root, "paired", lr_dir=tmp_path / "nolr")
    with pytest.raises(
        InputError,
        match=r"^'data.train.lr_dir': folder '.*nolr' does not exist; if the data "
        r"moved, pass --set data.train.lr_dir=FOLDER$",
    ):
        open_data_source(missing, 2, "train", "data.train")


def test_first_images_cuts_across_datasets(tmp_path, rng):
    a = make_benchmark(tmp_path, "A", rng, sizes=((8, 8),) * 3)
    a = SRDataset.from_benchmark(a, 2)
    b = make_benchmark(tmp_path, "B", rng)
    b = SRDataset.from_hr_folder(os.path.join(b, "HR"), 2, border="replicate")
    assert [len(d) for d in first_images([a, b], None)] == [3, 2]
    assert [len(d) for d in first_images([a, b], 4)] == [3, 1]
    assert [len(d) for d in first_images([a, b], 2)] == [2]
    assert first_images([a, b], 0) == []
    cut_a, cut_b = first_images([a, b], 4)
    assert (cut_a.name, cut_a.hr_paths, cut_a.lr_paths) == ("A", a.hr_paths, a.lr_paths)
    assert (cut_b.hr_paths, cut_b.lr_paths) == (b.hr_paths[:1], None)
    assert cut_b.border == "replicate"
