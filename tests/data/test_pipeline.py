import numpy as np
import pytest

from keras_enlca.data.datasets import SRDataset
from keras_enlca.data.io import write_image
from keras_enlca.data.pipeline import evaluation_dataset
from keras_enlca.data.pipeline import training_dataset
from keras_enlca.errors import InputError

SCALE = 2


@pytest.fixture
def nearest_pairs(tmp_path, rng):
    """LR/HR folders where HR is the nearest-neighbour upscale of LR.

    Then every aligned HR patch is exactly the LR patch repeated, under any
    flip or transpose, which makes alignment checkable pixel by pixel.
    """
    lrs = []
    for k, (height, width) in enumerate(((20, 26), (23, 19), (30, 30))):
        lr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        hr = np.repeat(np.repeat(lr, SCALE, 0), SCALE, 1)
        write_image(tmp_path / "LR" / f"im{k}x2.png", lr)
        write_image(tmp_path / "HR" / f"im{k}.png", hr)
        lrs.append(lr)
    dataset = SRDataset.from_paired_folders(tmp_path / "LR", tmp_path / "HR", SCALE)
    return dataset, lrs


def _to_uint8(batch):
    return np.round(batch.numpy() * 255.0).astype(np.uint8)


def test_batches_are_aligned_float_patches(nearest_pairs):
    dataset, _ = nearest_pairs
    data = training_dataset(dataset, SCALE, patch_size=8, batch_size=16, seed=5)
    lr, hr = next(iter(data))
    assert lr.shape == (16, 8, 8, 3) and hr.shape == (16, 16, 16, 3)
    assert lr.dtype.name == "float32" and hr.dtype.name == "float32"
    assert 0.0 <= float(np.min(lr)) and float(np.max(hr)) <= 1.0
    lr8, hr8 = _to_uint8(lr), _to_uint8(hr)
    np.testing.assert_array_equal(np.repeat(np.repeat(lr8, 2, 1), 2, 2), hr8)


def test_patches_come_from_the_images_with_all_8_transforms(nearest_pairs):
    dataset, lrs = nearest_pairs
    data = training_dataset(dataset, SCALE, patch_size=6, batch_size=64, seed=11)
    lr, _ = next(iter(data))
    seen = set()
    for patch in _to_uint8(lr):
        found = None
        for transform in range(8):
            # Undo: transpose, vertical flip, horizontal flip (reverse order).
            candidate = patch
            if transform & 4:
                candidate = candidate.transpose(1, 0, 2)
            if transform & 2:
                candidate = candidate[::-1]
            if transform & 1:
                candidate = candidate[:, ::-1]
            for image in lrs:
                windows = np.lib.stride_tricks.sliding_window_view(image, (6, 6, 3))[
                    ..., 0, :, :, :
                ]
                if (windows == candidate).all(axis=(-3, -2, -1)).any():
                    found = transform
                    break
            if found is not None:
                break
        assert found is not None
        seen.add(found)
    assert len(seen) == 8


def test_no_augmentation_keeps_orientation(nearest_pairs):
    dataset, lrs = nearest_pairs
    data = training_dataset(
        dataset, SCALE, patch_size=5, batch_size=32, augment=False, seed=2
    )
    lr, _ = next(iter(data))
    for patch in _to_uint8(lr):
        assert any(
            (
                np.lib.stride_tricks.sliding_window_view(image, (5, 5, 3))[
                    ..., 0, :, :, :
                ]
                == patch
            )
            .all(axis=(-3, -2, -1))
            .any()
            for image in lrs
        )


def test_seed_reproducibility_and_epochs(nearest_pairs):
    dataset, _ = nearest_pairs

    def batches(seed, steps=3, passes=1):
        data = training_dataset(
            dataset, SCALE, patch_size=4, batch_size=4, seed=seed, steps_per_epoch=steps
        )
        return [[lr.numpy() for lr, _ in data] for _ in range(passes)]

    first = batches(7, passes=2)
    again = batches(7, passes=2)
    other = batches(8)
    assert len(first[0]) == 3
    for a, b in zip(first[0] + first[1], again[0] + again[1], strict=True):
        np.testing.assert_array_equal(a, b)
    # A new pass (epoch) draws new crops; another seed too.
    assert not np.array_equal(first[0][0], first[1][0])
    assert not np.array_equal(first[0][0], other[0][0])


def test_every_image_is_visited_each_pass(nearest_pairs):
    dataset, lrs = nearest_pairs
    # A batch of 3 = one pass over the 3 images in a shuffled order.
    data = training_dataset(
        dataset, SCALE, patch_size=19, batch_size=3, augment=False, seed=1
    )
    iterator = iter(data)
    for _ in range(4):
        lr, _ = next(iterator)
        sources = set()
        for patch in _to_uint8(lr):
            for k, image in enumerate(lrs):
                windows = np.lib.stride_tricks.sliding_window_view(image, (19, 19, 3))
                if (windows[..., 0, :, :, :] == patch).all(axis=(-3, -2, -1)).any():
                    sources.add(k)
        assert sources == {0, 1, 2}


def test_hr_folder_and_path_inputs(tmp_path, rng):
    for k in range(2):
        write_image(
            tmp_path / "hr" / f"{k}.png",
            rng.integers(0, 256, (33, 41, 3), dtype=np.uint8),
        )
    data = training_dataset(str(tmp_path / "hr"), 4, patch_size=6, batch_size=2, seed=0)
    lr, hr = next(iter(data))
    assert lr.shape == (2, 6, 6, 3) and hr.shape == (2, 24, 24, 3)


def test_errors(nearest_pairs, tmp_path, rng):
    dataset, _ = nearest_pairs
    with pytest.raises(InputError, match="too small for LR patches of 24"):
        training_dataset(dataset, SCALE, patch_size=24)
    write_image(
        tmp_path / "bad" / "HR" / "a.png",
        rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
    )
    write_image(
        tmp_path / "bad" / "LR" / "a.png",
        rng.integers(0, 256, (10, 10, 3), dtype=np.uint8),
    )
    with pytest.raises(InputError, match="the LR image is 10x10, but its HR"):
        training_dataset(str(tmp_path / "bad"), SCALE, patch_size=4)
    with pytest.raises(InputError, match="Unsupported scale"):
        training_dataset(dataset, 5)


def test_evaluation_dataset(nearest_pairs):
    dataset, lrs = nearest_pairs
    items = list(evaluation_dataset(dataset, SCALE))
    assert len(items) == 3
    lr, hr = items[1]
    assert lr.shape == (1, 23, 19, 3) and hr.shape == (1, 46, 38, 3)
    np.testing.assert_array_equal(_to_uint8(lr)[0], lrs[1])


def test_image_cache_is_shared_with_tensorflow_not_copied():
    from keras_enlca.data.pipeline import _aligned_empty
    from keras_enlca.data.pipeline import _shared_tensor

    buffer = _aligned_empty(4096 * 3)
    assert buffer.ctypes.data % 64 == 0
    buffer[:] = 0
    tensor = _shared_tensor(buffer.reshape(-1, 3))
    buffer[5] = 9  # visible through the tensor: the same memory
    assert tensor.shape == (4096, 3) and int(tensor[1, 2]) == 9


def test_feeds_fit_under_mirrored_strategy(nearest_pairs):
    import keras

    from keras_enlca.layers import PixelShuffle
    from keras_enlca.training import get_strategy

    dataset, _ = nearest_pairs
    data = training_dataset(
        dataset, SCALE, patch_size=8, batch_size=4, seed=1, steps_per_epoch=3
    )
    # The session's one MirroredStrategy over the two logical CPUs: a second
    # instance over the same devices would collide in collective-op keys.
    strategy = get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        inputs = keras.Input((None, None, 3))
        outputs = PixelShuffle(2)(keras.layers.Conv2D(12, 3, padding="same")(inputs))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mae")
    history = model.fit(data, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["loss"]))
