import math

import numpy as np
import pytest

from keras_enlca.data.io import write_image
from keras_enlca.errors import InputError
from keras_enlca.evaluation import psnr
from keras_enlca.evaluation import score_folders
from keras_enlca.evaluation import ssim


@pytest.fixture
def folders(tmp_path, rng):
    hrs, srs = {}, {}
    for name in ("baby", "bird", "butterfly"):
        hr = rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)
        sr = np.clip(hr.astype(int) + rng.integers(-9, 10, hr.shape), 0, 255).astype(
            np.uint8
        )
        hrs[name], srs[name] = hr, sr
        write_image(tmp_path / "HR" / f"{name}.png", hr)
    write_image(tmp_path / "SR" / "baby_x4_SR.png", srs["baby"])
    write_image(tmp_path / "SR" / "bird_RCAN_x4.png", srs["bird"])
    write_image(tmp_path / "SR" / "butterflyx4.png", srs["butterfly"])
    write_image(
        tmp_path / "SR" / "butterfly_x2_SR.png", srs["baby"]
    )  # other scale: ignored
    return tmp_path, hrs, srs


def test_scores_match_the_metrics(folders):
    root, hrs, srs = folders
    report = score_folders(root / "SR", root / "HR", 4)
    result = report["HR"]
    assert report.model_name == "SR" and result["num_images"] == 3
    names = [image["name"] for image in result["images"]]
    assert names == ["baby", "bird", "butterfly"]
    assert [image["sr_file"] for image in result["images"]] == [
        "baby_x4_SR.png",
        "bird_RCAN_x4.png",
        "butterflyx4.png",
    ]
    for image in result["images"]:
        assert image["psnr"] == pytest.approx(
            psnr(srs[image["name"]], hrs[image["name"]], 4)
        )
        assert image["ssim"] == pytest.approx(
            ssim(srs[image["name"]], hrs[image["name"]], 4)
        )
    assert result["psnr"] == pytest.approx(
        np.mean([i["psnr"] for i in result["images"]])
    )
    rgb = score_folders(root / "SR", root / "HR", 4, y_channel=False, shave=0)["HR"]
    assert rgb["images"][0]["psnr"] == pytest.approx(
        psnr(srs["baby"], hrs["baby"], 0, False)
    )


def test_hr_not_modcropped_is_cropped(tmp_path, rng):
    hr = rng.integers(0, 256, (27, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "HR" / "a.png", hr)
    write_image(tmp_path / "SR" / "a_x4_SR.png", hr[:24, :28])
    assert score_folders(tmp_path / "SR", tmp_path / "HR", 4)["HR"]["psnr"] == math.inf


def test_errors(folders, tmp_path):
    root, hrs, _ = folders
    write_image(tmp_path / "small" / "baby.png", hrs["baby"][:20])
    write_image(tmp_path / "one" / "baby.png", hrs["baby"])
    with pytest.raises(InputError, match=r"size mismatch: .*baby.png is 40x20"):
        score_folders(tmp_path / "small", tmp_path / "one", 4)
    with pytest.raises(InputError, match="No SR image for HR bird.png"):
        score_folders(tmp_path / "small", root / "HR", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="No images in"):
        score_folders(tmp_path / "empty", root / "HR", 4)
    with pytest.raises(InputError, match="Folder not found"):
        score_folders(tmp_path / "missing", root / "HR", 4)
    with pytest.raises(InputError, match="Unsupported scale"):
        score_folders(root / "SR", root / "HR", 6)


def test_gray_pairs_are_compared_on_gray_levels(tmp_path, rng):
    from PIL import Image

    hr = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-5, 6, hr.shape), 0, 255).astype(
        np.uint8
    )
    Image.fromarray(hr, "L").save(tmp_path / "hr.png")
    Image.fromarray(sr, "L").save(tmp_path / "hr_x2_SR.png")
    (tmp_path / "HR").mkdir()
    (tmp_path / "SR").mkdir()
    (tmp_path / "hr.png").rename(tmp_path / "HR" / "g.png")
    (tmp_path / "hr_x2_SR.png").rename(tmp_path / "SR" / "g_x2_SR.png")
    result = score_folders(tmp_path / "SR", tmp_path / "HR", 2)["HR"]
    direct = 10 * math.log10(
        255**2 / np.mean((hr[2:-2, 2:-2].astype(float) - sr[2:-2, 2:-2]) ** 2)
    )
    assert result["psnr"] == pytest.approx(direct, abs=1e-9)
    replicated = psnr(
        np.repeat(sr[..., None], 3, -1), np.repeat(hr[..., None], 3, -1), 2
    )
    assert replicated - result["psnr"] == pytest.approx(
        20 * math.log10(255 / 219), abs=0.01
    )
