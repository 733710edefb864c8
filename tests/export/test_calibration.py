import numpy as np
import pytest

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import sample_images_dir
from keras_enlca.errors import InputError
from keras_enlca.export.calibration import calibration_crops
from keras_enlca.export.calibration import representative_dataset
from keras_enlca.export.calibration import tile_crop_count


def test_crops_come_from_the_images_at_random_positions():
    paths = sample_image_paths()[:2]
    crops = calibration_crops(paths, num_crops=6, crop_size=(16, 24), seed=3)
    assert len(crops) == 6
    images = [read_image(p) for p in paths]
    for i, crop in enumerate(crops):
        assert crop.shape == (1, 16, 24, 3) and crop.dtype == np.uint8
        image = images[i % 2]
        windows = np.lib.stride_tricks.sliding_window_view(image, (16, 24, 3))[
            ..., 0, :, :, :
        ]
        assert np.any(np.all(windows == crop[0], axis=(-3, -2, -1)))
    assert not np.array_equal(crops[0], crops[2])
    # Deterministic for a seed.
    again = calibration_crops(paths, num_crops=6, crop_size=(16, 24), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(crops, again, strict=True))


def test_default_source_small_images_and_fixed_size(tmp_path):
    crops = calibration_crops(num_crops=5, crop_size=300)  # bundled photos, all smaller
    assert [c.shape[1:3] for c in crops] == [
        read_image(p).shape[:2] for p in sorted(sample_image_paths())
    ][:5]
    assert sample_images_dir()
    samples = list(representative_dataset(crops[:2], size=(260, 260))())
    assert [s[0].shape for s in samples] == [(1, 260, 260, 3)] * 2
    with pytest.raises(InputError, match="--calibration"):
        calibration_crops(tmp_path / "missing")
    with pytest.raises(InputError, match="holds no images"):
        calibration_crops(tmp_path)


def test_crops_cycle_over_sizes_and_pairs_are_bicubic_lr_of_hr_crops():
    from keras_enlca.data import bicubic_downscale
    from keras_enlca.export.calibration import DEFAULT_CROP_SIZES
    from keras_enlca.export.calibration import selection_pairs

    crops = calibration_crops(num_crops=6)
    assert [c.shape[1:3] for c in crops] == [(s, s) for s in DEFAULT_CROP_SIZES] * 2
    pairs = selection_pairs(scale=3, num_pairs=3, size=20)
    assert len(pairs) == 3
    for lr, hr in pairs:
        assert lr.shape == (20, 20, 3) and hr.shape == (60, 60, 3)
        assert np.array_equal(lr, bicubic_downscale(hr, 3)[0])


def test_an_unreadable_calibration_image_is_a_one_line_error(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(
        InputError, match=r"^--calibration: Cannot read image .*broken\.png"
    ) as info:
        calibration_crops(tmp_path)
    assert "\n" not in str(info.value)


def test_fixed_tiles_calibrate_on_the_pixels_of_the_default_crops():
    # 32 crops cycling 48, 64, 96: 162,560 pixels = 9.9 crops of 128x128.
    assert tile_crop_count(32, (128, 128)) == 10
    assert tile_crop_count(32, (96, 128)) == 14
    assert tile_crop_count(12, (48, 48), [32, 48]) == 9
    assert tile_crop_count(32, (64, 64)) == 32  # never more than asked
    assert tile_crop_count(32, (512, 512)) == 4  # MIN_TILE_CROPS
    assert tile_crop_count(2, (512, 512)) == 2
