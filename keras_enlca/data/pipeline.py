"""`tf.data` input pipelines: random training patches and whole test images.

`training_dataset` follows the reference data loader (reference spec §1.2):

- every image pair is decoded once and kept in memory (the reference keeps
  pre-decoded binaries; DIV2K x2 takes about 9 GB of RAM);
- each sample is an aligned random crop: an LR patch of `patch_size` pixels
  (the papers use 48) at `(y, x)` and the HR patch of `patch_size * scale` at
  `(y * scale, x * scale)`;
- augmentation draws, with probability 0.5 each, a horizontal flip, a
  vertical flip and a transpose: the 8 dihedral transforms;
- images are visited in a fresh random order every pass (the reference
  repeats the list and shuffles it);
- an "epoch" is `steps_per_epoch` batches (reference `--test_every 1000`);
- all randomness derives from `seed`: two runs with the same seed give the
  same batches.

Patches are cut with one `tf.gather` per resolution from a flat buffer of all
images, inside a parallel, vectorised `tf.data` map (no Python in the loop);
flips and transposes are applied to the gather indices, so augmenting costs
nothing. Batches are prefetched.
"""

import concurrent.futures
import os

import numpy as np

from keras_enlca.data.datasets import SRDataset
from keras_enlca.data.datasets import check_pair
from keras_enlca.data.datasets import check_scale
from keras_enlca.data.datasets import open_datasets
from keras_enlca.errors import InputError


def _as_datasets(data, scale):
    if isinstance(data, SRDataset):
        return [data]
    if isinstance(data, (str, os.PathLike)):
        return open_datasets(data, scale, split="train")
    datasets = []
    for item in data:
        datasets.extend(_as_datasets(item, scale))
    return datasets


class _ImageCache:
    """All LR and HR images of some datasets, decoded into two flat buffers."""

    def __init__(self, datasets, scale, patch_size, num_workers=None):
        entries = [(d, i) for d in datasets for i in range(len(d))]
        if not entries:
            raise InputError("No training images")
        self.names = []
        lr_shapes, hr_shapes = [], []
        for dataset, index in entries:
            lr_shape, hr_shape = dataset.shapes(index)
            name = dataset.hr_paths[index]
            if dataset.lr_paths is not None:
                check_pair(lr_shape, hr_shape, scale, dataset.lr_paths[index], name)
            if min(lr_shape) < patch_size:
                raise InputError(
                    f"{name} is too small for LR patches of {patch_size} pixels at "
                    f"scale {scale} (LR {lr_shape[1]}x{lr_shape[0]})"
                )
            self.names.append(name)
            lr_shapes.append(lr_shape)
            hr_shapes.append(hr_shape)
        self.lr_shapes = np.array(lr_shapes, dtype=np.int64)
        self.hr_shapes = np.array(hr_shapes, dtype=np.int64)
        lr_sizes = self.lr_shapes[:, 0] * self.lr_shapes[:, 1] * 3
        hr_sizes = self.hr_shapes[:, 0] * self.hr_shapes[:, 1] * 3
        self.lr_offsets = np.concatenate([[0], np.cumsum(lr_sizes)[:-1]]).astype(
            np.int64
        )
        self.hr_offsets = np.concatenate([[0], np.cumsum(hr_sizes)[:-1]]).astype(
            np.int64
        )
        # 64-byte aligned, so TensorFlow can share them without a copy.
        self.lr = _aligned_empty(int(lr_sizes.sum()))
        self.hr = _aligned_empty(int(hr_sizes.sum()))

        def load(k):
            dataset, index = entries[k]
            _, lr, hr = dataset.load(index, crop_hr=False)
            if lr.shape[:2] != tuple(self.lr_shapes[k]) or hr.shape[:2] != tuple(
                self.hr_shapes[k]
            ):
                raise InputError(
                    f"{self.names[k]} changed size while it was being read"
                )
            self.lr[self.lr_offsets[k] : self.lr_offsets[k] + lr.size] = lr.ravel()
            self.hr[self.hr_offsets[k] : self.hr_offsets[k] + hr.size] = hr.ravel()

        workers = num_workers or min(8, os.cpu_count() or 1)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(load, k) for k in range(len(entries))]:
                future.result()

    def __len__(self):
        return len(self.names)


def _shared_tensor(array):
    """A tensor over `array`'s memory (DLPack, no copy).

    DIV2K then takes ~9 GB once, not twice.
    """
    import tensorflow as tf

    try:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    except Exception:  # noqa: BLE001 - fall back to a copy
        return tf.convert_to_tensor(array)


def _aligned_empty(size, alignment=64):
    raw = np.empty(size + alignment, dtype=np.uint8)
    start = (-raw.ctypes.data) % alignment
    return raw[start : start + size]


class _PatchSampler:
    """Cuts augmented, aligned (LR, HR) patch batches out of an `_ImageCache`.

    The images stay in two flat `(pixels, 3)` tensors; a batch is one
    `tf.gather` per resolution, with flips and transposes applied to the
    gather indices.
    """

    def __init__(self, cache, scale, patch_size, batch_size, augment):
        import tensorflow as tf

        # (pixels, 3) views: one gather index per pixel, not per byte.
        self.lr_flat = _shared_tensor(cache.lr.reshape(-1, 3))
        self.hr_flat = _shared_tensor(cache.hr.reshape(-1, 3))
        self.lr_offsets = tf.constant(cache.lr_offsets // 3)
        self.hr_offsets = tf.constant(cache.hr_offsets // 3)
        self.lr_heights = tf.constant(cache.lr_shapes[:, 0])
        self.lr_widths = tf.constant(cache.lr_shapes[:, 1])
        self.hr_widths = tf.constant(cache.hr_shapes[:, 1])
        self.scale = scale
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.augment = augment

    def gather_patches(self, flat, offsets, widths, y, x, size, flags):
        """Patches `(n, size, size, 3)` at `(y, x)`, augmented through the indices.

        Output pixel (r, c) reads source pixel (a, b) with
        output = transpose(vflip(hflip(patch))) as flagged (reference order):
        `a = rv[c if t else r]`, `b = cv[r if t else c]`, where `rv` and `cv`
        are the (flipped) row and column ranges.
        """
        import tensorflow as tf

        steps = tf.range(size, dtype=tf.int64)[None, :]
        rows = steps
        cols = steps
        if self.augment:
            hflip, vflip, transpose = flags
            rows = tf.where(vflip[:, None], size - 1 - steps, steps)
            cols = tf.where(hflip[:, None], size - 1 - steps, steps)
        row_term = offsets[:, None] + (y[:, None] + rows) * widths[:, None]
        col_term = x[:, None] + cols
        pixel = row_term[:, :, None] + col_term[:, None, :]
        if self.augment:
            transposed = row_term[:, None, :] + col_term[:, :, None]
            pixel = tf.where(transpose[:, None, None], transposed, pixel)
        return tf.gather(flat, pixel)

    def random_corners_and_flags(self, indices, seeds):
        """LR patch corners `(y, x)` and the three flip flags of a batch."""
        import tensorflow as tf

        n = tf.shape(indices)[0]
        u = tf.random.stateless_uniform([2, n], seed=seeds, dtype=tf.float64)
        y_range = tf.gather(self.lr_heights, indices) - self.patch_size + 1
        x_range = tf.gather(self.lr_widths, indices) - self.patch_size + 1
        y = tf.cast(tf.floor(u[0] * tf.cast(y_range, tf.float64)), tf.int64)
        x = tf.cast(tf.floor(u[1] * tf.cast(x_range, tf.float64)), tf.int64)
        flips = (
            tf.random.stateless_uniform(
                [3, n], seed=seeds + tf.constant([0, 1], tf.int64), dtype=tf.float32
            )
            < 0.5
        )
        # Reference order: horizontal flip, vertical flip, transpose.
        return y, x, (flips[0], flips[1], flips[2])

    def make_batch(self, indices, seeds):
        """The `(lr, hr)` float32 batch of the images `indices`."""
        import tensorflow as tf

        seeds = tf.reshape(seeds, [2])
        y, x, flags = self.random_corners_and_flags(indices, seeds)
        lr = self.gather_patches(
            self.lr_flat,
            tf.gather(self.lr_offsets, indices),
            tf.gather(self.lr_widths, indices),
            y,
            x,
            self.patch_size,
            flags,
        )
        hr_patch = self.patch_size * self.scale
        hr = self.gather_patches(
            self.hr_flat,
            tf.gather(self.hr_offsets, indices),
            tf.gather(self.hr_widths, indices),
            y * self.scale,
            x * self.scale,
            hr_patch,
            flags,
        )
        lr = tf.cast(lr, tf.float32) / 255.0
        hr = tf.cast(hr, tf.float32) / 255.0
        lr = tf.ensure_shape(lr, [self.batch_size, self.patch_size, self.patch_size, 3])
        hr = tf.ensure_shape(hr, [self.batch_size, hr_patch, hr_patch, 3])
        return lr, hr


def _image_order_and_seeds(count, batch_size, seed):
    """Batches of image indices (a fresh shuffle every pass) zipped with seeds."""
    import tensorflow as tf

    order = (
        tf.data.Dataset.range(count)
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )
    seeds = tf.data.Dataset.random(
        seed=seed + 1, rerandomize_each_iteration=True
    ).batch(2)
    return tf.data.Dataset.zip(order, seeds)


def _positive(name, value):
    value = int(value)
    if value < 1:
        raise InputError(f"{name} must be >= 1, got {value}")
    return value


def training_dataset(
    data,
    scale,
    patch_size=48,
    batch_size=16,
    steps_per_epoch=None,
    augment=True,
    seed=None,
    num_parallel_calls=None,
    prefetch=None,
    num_workers=None,
):
    """Batches of aligned random (LR, HR) patches for `model.fit`.

    Args:
        data: an `SRDataset`, a dataset folder (any layout `open_datasets`
            knows; DIV2K uses the train split 1-800), or a list of them.
        scale: integer upscaling factor.
        patch_size: LR patch size in pixels (HR patches are
            `patch_size * scale`); the papers use 48.
        batch_size: patches per batch (reference 16).
        steps_per_epoch: if set, each pass over the dataset yields exactly
            this many batches (reference "epoch" = `test_every` = 1000
            iterations) with new random crops every pass; if `None` the
            dataset is infinite (pass `steps_per_epoch` to `fit`).
        augment: random flips and transposes (8 dihedral transforms).
        seed: integer seed for reproducible batches; `None` for random.
        num_parallel_calls: parallelism of the patch map (default AUTOTUNE).
        prefetch: batches to prefetch (default AUTOTUNE).
        num_workers: threads decoding the images up front.

    Returns:
        A `tf.data.Dataset` of `(lr, hr)` float32 batches in [0, 1], shapes
        `(batch_size, patch_size, patch_size, 3)` and
        `(batch_size, patch_size * scale, patch_size * scale, 3)`.

    Example:

    ```python
    train = training_dataset(
        "DIV2K", scale=4, patch_size=48, batch_size=16, steps_per_epoch=1000, seed=1
    )
    model.fit(train, epochs=1000)
    ```
    """
    import tensorflow as tf

    scale = check_scale(scale)
    patch_size = _positive("patch_size", patch_size)
    batch_size = _positive("batch_size", batch_size)
    cache = _ImageCache(_as_datasets(data, scale), scale, patch_size, num_workers)
    sampler = _PatchSampler(cache, scale, patch_size, batch_size, augment)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    dataset = _image_order_and_seeds(len(cache), batch_size, int(seed))
    if steps_per_epoch is not None:
        dataset = dataset.take(int(steps_per_epoch))
    dataset = dataset.map(
        sampler.make_batch,
        num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.prefetch(prefetch or tf.data.AUTOTUNE)


def evaluation_dataset(data, scale):
    """Whole test images as `(lr, hr)` float32 batches of one.

    HR is cropped to `LR * scale`. For `model.fit(..., validation_data=...)`
    or `model.evaluate`. Images of different sizes come one per batch.

    Example:

    ```python
    val = evaluation_dataset("benchmark/Set5", scale=4)
    ```
    """
    import tensorflow as tf

    scale = check_scale(scale)
    datasets = (
        _as_datasets(data, scale)
        if not isinstance(data, (str, os.PathLike))
        else (open_datasets(data, scale))
    )

    def generate():
        for dataset in datasets:
            for _, lr, hr in dataset:
                yield (
                    (lr[None].astype(np.float32) / 255.0),
                    (hr[None].astype(np.float32) / 255.0),
                )

    spec = tf.TensorSpec([1, None, None, 3], tf.float32)
    return tf.data.Dataset.from_generator(generate, output_signature=(spec, spec))
