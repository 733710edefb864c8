"""Super-resolution datasets on disk: DIV2K, EDSR benchmarks, plain and paired folders.

Layouts understood (all reading goes through `read_image`, so any PNG/JPEG
flavour works):

- **DIV2K** (`SRDataset.from_div2k`): `ROOT/DIV2K_train_HR/0001.png` with
  `ROOT/DIV2K_train_LR_bicubic/X4/0001x4.png`, and the same for
  `DIV2K_valid_*` (0801-0900). Images are selected by number, like the
  reference `--data_range 1-800/801-810`; a validation range may live in the
  train folder (EDSR's merged layout) or in the valid folder.
- **EDSR benchmark** (`SRDataset.from_benchmark`): `Set5/HR/baby.png` with
  `Set5/LR_bicubic/X4/babyx4.png`; Set5, Set14, B100, Urban100, Manga109 and
  any other set laid out the same way.
- **HR folder** (`SRDataset.from_hr_folder`): only HR images; each LR is
  made when loaded, with the MATLAB bicubic of the HR modcropped to the
  scale (the way the benchmark LR files were made).
- **Paired folders** (`SRDataset.from_paired_folders`): an LR folder and an
  HR folder whose files are paired by name (`baby.png` ~ `babyx4.png`,
  `baby_LR_x4.png`...; see `keras_enlca.data.matching`).

`open_datasets(path, scale)` detects the layout of a folder (also a folder of
benchmark sets such as EDSR's `benchmark/`); `open_data_source` opens a data
source described by `type`/`dir`/`lr_dir`/`range` (a training config's
`data.train` or `data.validation`), with errors in config-key terms.

At test time the HR is cropped top-left to `LR size * scale`, as the
reference does; an LR whose size times the scale does not fit the HR (more
than `scale - 1` pixels of slack) raises `InputError` naming both files.
"""

import os
import re

import numpy as np

from keras_enlca.data.bicubic import bicubic_downscale
from keras_enlca.data.io import image_shape
from keras_enlca.data.io import list_images
from keras_enlca.data.io import read_image
from keras_enlca.data.io import scan_images
from keras_enlca.data.io import warn_skipped
from keras_enlca.data.matching import match_files
from keras_enlca.errors import InputError

# Scales the reference networks were published for (their checkpoints
# released): one preset each, and what `enlca convert` accepts.
PUBLISHED_SCALES = (2, 3, 4)
# LR scales of the DIV2K and benchmark sets (their X2/X3/X4/X8 folders):
# what the data loaders, `enlca eval` and `enlca score` accept.
DATASET_SCALES = (2, 3, 4, 8)
BENCHMARK_ORDER = ("Set5", "Set14", "B100", "BSD100", "Urban100", "Manga109")
DIV2K_RANGES = {"train": (1, 800), "valid": (801, 900)}


def check_scale(scale):
    """Validate an upscaling factor; returns it as an int."""
    try:
        value = int(scale)
    except (TypeError, ValueError):
        raise InputError(
            f"Unsupported scale {scale!r}; use one of {DATASET_SCALES}"
        ) from None
    if value != scale or value not in DATASET_SCALES:
        raise InputError(f"Unsupported scale {scale!r}; use one of {DATASET_SCALES}")
    return value


def check_pair(lr_shape, hr_shape, scale, lr_name, hr_name):
    """Raise `InputError` unless `lr_shape * scale` fits `hr_shape`.

    The HR side may exceed `lr_shape * scale` by up to `scale - 1` pixels.
    """
    fits = all(0 <= hr_shape[axis] - lr_shape[axis] * scale < scale for axis in (0, 1))
    if fits:
        return
    # The HR image is the ground truth the LR is made from: the LR is the
    # file that does not fit.
    wanted = f"{hr_shape[1] // scale}x{hr_shape[0] // scale}"
    ratios = {hr_shape[a] / lr_shape[a] for a in (0, 1) if lr_shape[a]}
    (ratio,) = ratios if len(ratios) == 1 else (None,)
    if ratio is not None and ratio == int(ratio) and int(ratio) in DATASET_SCALES:
        hint = f"it is a x{int(ratio)} LR image; pass --scale {int(ratio)}"
    else:
        hint = f"it was not made from {os.path.basename(hr_name)} at x{scale}"
    raise InputError(
        f"{lr_name}: the LR image is {lr_shape[1]}x{lr_shape[0]}, but its HR "
        f"{hr_name} ({hr_shape[1]}x{hr_shape[0]}) needs {wanted} at x{scale}; "
        f"{hint}."
    )


def _find_lr(folder, stem, scale):
    for ext in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"):
        for name in (f"{stem}x{scale}{ext}", f"{stem}{ext}"):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def _parse_range(data_range):
    if data_range is None:
        return None
    if isinstance(data_range, str):
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", data_range)
        if not match:
            raise InputError(f"data_range must look like '801-810', got {data_range!r}")
        return int(match.group(1)), int(match.group(2))
    first, last = data_range
    return int(first), int(last)


class SRDataset:
    """A set of HR images (with LR files or LR made on the fly) at one scale.

    Args:
        name: display name ("Set5", "DIV2K valid"...).
        scale: integer upscaling factor (2, 3, 4 or 8).
        hr_paths: paths of the HR images.
        lr_paths: paths of the matching LR images, or `None` to make each LR
            from its HR with the MATLAB bicubic (`modcrop` first).
        border: border mode of the generated LR ("symmetric" = current
            MATLAB, or "replicate"), see `keras_enlca.data.imresize`.

    Example:

    ```python
    set5 = SRDataset.from_benchmark("benchmark/Set5", scale=4)
    for name, lr, hr in set5:
        ...  # uint8 arrays, hr.shape == (4 * lr.shape[0], 4 * lr.shape[1], 3)
    ```
    """

    def __init__(self, name, scale, hr_paths, lr_paths=None, border="symmetric"):
        self.name = str(name)
        self.scale = check_scale(scale)
        self.hr_paths = [os.fspath(p) for p in hr_paths]
        self.lr_paths = None if lr_paths is None else [os.fspath(p) for p in lr_paths]
        self.border = border
        if not self.hr_paths:
            raise InputError(f"Dataset {self.name} has no images")
        if self.lr_paths is not None and len(self.lr_paths) != len(self.hr_paths):
            raise InputError(
                f"Dataset {self.name}: {len(self.lr_paths)} LR files for "
                f"{len(self.hr_paths)} HR files"
            )

    @property
    def lr_source(self):
        """`"files"` when LR images are read, `"bicubic"` when made from HR."""
        return "bicubic" if self.lr_paths is None else "files"

    @property
    def names(self):
        """Image names (HR file stems)."""
        return [os.path.splitext(os.path.basename(p))[0] for p in self.hr_paths]

    def __len__(self):
        return len(self.hr_paths)

    def __repr__(self):
        return (
            f"SRDataset({self.name!r}, scale={self.scale}, images={len(self)}, "
            f"lr={self.lr_source})"
        )

    def __getitem__(self, index):
        return self.load(index)

    def __iter__(self):
        for index in range(len(self)):
            yield self.load(index)

    def shapes(self, index):
        """`(lr_shape, hr_shape)` (height, width) from the file headers, unchecked.

        With LR made on the fly, the HR shape is the modcropped one `load` returns.
        """
        hr_shape = image_shape(self.hr_paths[index])
        if self.lr_paths is None:
            lr_shape = (hr_shape[0] // self.scale, hr_shape[1] // self.scale)
            return lr_shape, (lr_shape[0] * self.scale, lr_shape[1] * self.scale)
        return image_shape(self.lr_paths[index]), hr_shape

    def load(self, index, crop_hr=True):
        """Decode image `index` as `(name, lr, hr)` uint8 arrays.

        Args:
            index: image index.
            crop_hr: crop the HR top-left to `LR size * scale` (test time).

        Raises:
            InputError: unreadable file, or LR and HR sizes that disagree.
        """
        hr_path = self.hr_paths[index]
        name = os.path.splitext(os.path.basename(hr_path))[0]
        hr = read_image(hr_path)
        if self.lr_paths is None:
            if hr.shape[0] < self.scale or hr.shape[1] < self.scale:
                raise InputError(
                    f"{hr_path} ({hr.shape[1]}x{hr.shape[0]}) is too small for scale "
                    f"{self.scale}"
                )
            lr, hr = bicubic_downscale(hr, self.scale, border=self.border)
            return name, lr, hr
        lr_path = self.lr_paths[index]
        lr = read_image(lr_path)
        check_pair(lr.shape, hr.shape, self.scale, lr_path, hr_path)
        if crop_hr:
            hr = hr[: lr.shape[0] * self.scale, : lr.shape[1] * self.scale]
        return name, lr, hr

    @classmethod
    def from_benchmark(cls, folder, scale, name=None):
        """An EDSR benchmark set: `folder/HR/*.png` and `folder/LR_bicubic/`.

        The LR image of `HR/{stem}.png` is `LR_bicubic/X{s}/{stem}x{s}.png`.

        Raises:
            InputError: missing `HR` folder, no `LR_bicubic/X{scale}`, or an
                HR image without its LR file.
        """
        scale = check_scale(scale)
        folder = os.fspath(folder)
        hr_dir = os.path.join(folder, "HR")
        hr_paths = list_images(hr_dir)
        if not hr_paths:
            raise InputError(f"No images in {hr_dir}")
        lr_dir = os.path.join(folder, "LR_bicubic", f"X{scale}")
        if not os.path.isdir(lr_dir):
            available = (
                sorted(
                    d
                    for d in os.listdir(os.path.join(folder, "LR_bicubic"))
                    if os.path.isdir(os.path.join(folder, "LR_bicubic", d))
                )
                if os.path.isdir(os.path.join(folder, "LR_bicubic"))
                else []
            )
            raise InputError(
                f"No LR images for scale {scale}: {lr_dir} does not exist"
                + (f" (found {', '.join(available)})" if available else "")
            )
        lr_paths = []
        for hr_path in hr_paths:
            stem = os.path.splitext(os.path.basename(hr_path))[0]
            lr_path = _find_lr(lr_dir, stem, scale)
            if lr_path is None:
                expected = os.path.join(lr_dir, f"{stem}x{scale}.png")
                raise InputError(f"No LR image for {hr_path}: expected {expected}")
            lr_paths.append(lr_path)
        return cls(
            name or os.path.basename(os.path.normpath(folder)),
            scale,
            hr_paths,
            lr_paths,
        )

    @classmethod
    def from_hr_folder(cls, folder, scale, name=None, border="symmetric"):
        """HR images only; LR made on load with the MATLAB bicubic (after modcrop)."""
        scale = check_scale(scale)
        folder = os.fspath(folder)
        hr_paths, folders, files = scan_images(folder)
        if not hr_paths:
            raise InputError(f"No images in {folder}")
        warn_skipped(folder, folders, files)
        return cls(
            name or os.path.basename(os.path.normpath(folder)),
            scale,
            hr_paths,
            None,
            border,
        )

    @classmethod
    def from_paired_folders(cls, lr_folder, hr_folder, scale, name=None):
        """LR and HR folders whose files pair by name.

        Suffixes like `x4` and `_LR` are ignored in the pairing.
        """
        scale = check_scale(scale)
        hr_paths = list_images(hr_folder)
        lr_paths = list_images(lr_folder)
        if not hr_paths:
            raise InputError(f"No images in {os.fspath(hr_folder)}")
        if not lr_paths:
            raise InputError(f"No images in {os.fspath(lr_folder)}")
        pairs = match_files(
            lr_paths, hr_paths, scale, candidate_label="LR", reference_label="HR"
        )
        default = os.path.basename(
            os.path.normpath(os.path.dirname(os.path.abspath(hr_folder)))
        )
        return cls(
            name or default or "paired",
            scale,
            [hr for hr, _ in pairs],
            [lr for _, lr in pairs],
        )

    @classmethod
    def from_div2k(
        cls, root, scale, split="valid", data_range=None, name=None, border="symmetric"
    ):
        """DIV2K images selected by number.

        Args:
            root: folder holding `DIV2K_train_HR` and/or `DIV2K_valid_HR`
                (and the matching `DIV2K_{train,valid}_LR_bicubic/X{s}`).
            scale: upscaling factor.
            split: "train" (default range 1-800) or "valid" (801-900).
            data_range: `"801-810"` or `(801, 810)` to pick images by number
                (the reference validates on 801-810).
            name: display name.
            border: border mode of LR images made on load.

        Without `LR_bicubic` folders the LR images are made on load.
        """
        scale = check_scale(scale)
        if split not in DIV2K_RANGES:
            raise InputError(f"DIV2K split must be 'train' or 'valid', got {split!r}")
        root = os.fspath(root)
        first, last = _parse_range(data_range) or DIV2K_RANGES[split]
        hr_paths, lr_paths = [], []
        for folder_split in ("train", "valid"):
            hr_dir = os.path.join(root, f"DIV2K_{folder_split}_HR")
            if not os.path.isdir(hr_dir):
                continue
            lr_dir = os.path.join(root, f"DIV2K_{folder_split}_LR_bicubic", f"X{scale}")
            for hr_path in list_images(hr_dir):
                stem = os.path.splitext(os.path.basename(hr_path))[0]
                if not stem.isdigit() or not first <= int(stem) <= last:
                    continue
                hr_paths.append(hr_path)
                lr_paths.append(
                    _find_lr(lr_dir, stem, scale) if os.path.isdir(lr_dir) else None
                )
        if not hr_paths:
            raise InputError(
                f"No DIV2K images numbered {first}-{last} in {root} "
                "(expected DIV2K_train_HR/0001.png or DIV2K_valid_HR/0801.png)"
            )
        order = np.argsort([os.path.basename(p) for p in hr_paths], kind="stable")
        hr_paths = [hr_paths[i] for i in order]
        lr_paths = [lr_paths[i] for i in order]
        missing = [hr for hr, lr in zip(hr_paths, lr_paths) if lr is None]
        if missing and len(missing) != len(hr_paths):
            raise InputError(
                f"No LR image (X{scale}) for {missing[0]} although other DIV2K LR "
                "files exist"
            )
        return cls(
            name or f"DIV2K {split}",
            scale,
            hr_paths,
            None if missing else lr_paths,
            border,
        )


def _is_benchmark_set(folder):
    return os.path.isdir(os.path.join(folder, "HR"))


def _is_div2k(folder):
    return any(
        os.path.isdir(os.path.join(folder, f"DIV2K_{split}_HR"))
        for split in ("train", "valid")
    )


def _div2k_root(path):
    """`path` or `path/DIV2K`, whichever has the DIV2K layout first; else None."""
    for root in (path, os.path.join(path, "DIV2K")):
        if os.path.isdir(root) and _is_div2k(root):
            return root
    return None


def open_dataset(path, scale, split="valid", data_range=None, border="symmetric"):
    """One dataset from a folder, whatever its layout (see `open_datasets`)."""
    datasets = open_datasets(
        path, scale, split=split, data_range=data_range, border=border
    )
    if len(datasets) != 1:
        raise InputError(
            f"{path} holds {len(datasets)} datasets "
            f"({', '.join(d.name for d in datasets)}); name one of them"
        )
    return datasets[0]


def open_datasets(path, scale, split="valid", data_range=None, border="symmetric"):
    """Datasets found at `path`, with the layout detected.

    - `path/HR` with `path/LR_bicubic`: an EDSR benchmark set;
    - `path/HR` with `path/LR`: paired folders (matched by name);
    - `path/HR` alone: HR images, LR made with the MATLAB bicubic;
    - `path/DIV2K_*_HR` (or `path/DIV2K/DIV2K_*_HR`): DIV2K (`split`,
      `data_range`);
    - subfolders that are benchmark sets (EDSR's `benchmark/`): one dataset
      each, Set5, Set14, B100, Urban100, Manga109 first;
    - image files directly in `path`: an HR folder.

    `border` is the MATLAB bicubic border mode for LR images made from HR
    ("symmetric", current MATLAB; "replicate" reproduces RCAN's test data).

    Raises:
        InputError: missing or empty folder, unknown layout, unsupported scale.
    """
    scale = check_scale(scale)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"Dataset folder not found: {path}")
    if not os.path.isdir(path):
        raise InputError(f"Expected a dataset folder but got a file: {path}")
    name = os.path.basename(os.path.normpath(path))
    if _is_benchmark_set(path):
        if os.path.isdir(os.path.join(path, "LR_bicubic")):
            return [SRDataset.from_benchmark(path, scale)]
        if os.path.isdir(os.path.join(path, "LR")):
            lr_dir = os.path.join(path, "LR")
            scaled = os.path.join(lr_dir, f"X{scale}")
            if os.path.isdir(scaled):
                lr_dir = scaled
            return [
                SRDataset.from_paired_folders(
                    lr_dir, os.path.join(path, "HR"), scale, name
                )
            ]
        return [SRDataset.from_hr_folder(os.path.join(path, "HR"), scale, name, border)]
    root = _div2k_root(path)
    if root is not None:
        return [
            SRDataset.from_div2k(
                root, scale, split=split, data_range=data_range, border=border
            )
        ]
    subsets = sorted(
        d for d in os.listdir(path) if _is_benchmark_set(os.path.join(path, d))
    )
    if subsets:
        rank = {n.lower(): i for i, n in enumerate(BENCHMARK_ORDER)}
        subsets.sort(key=lambda d: (rank.get(d.lower(), len(rank)), d))
        return [
            open_datasets(os.path.join(path, d), scale, border=border)[0]
            for d in subsets
        ]
    if list_images(path):
        return [SRDataset.from_hr_folder(path, scale, name, border)]
    raise InputError(
        f"No images found in {path} (expected image files, HR/ + LR_bicubic/X{scale}/, "
        "DIV2K_*_HR/, or benchmark sets)"
    )


def open_data_source(source, scale, split, key):
    """The datasets of a data source description, as a training run opens them.

    Args:
        source: an object with `type` (`"div2k"`, `"folder"`, `"paired"` or
            `"auto"`), `dir`, `lr_dir` and `range` attributes, e.g. a
            `keras_enlca.training.config.DataSourceConfig`. `"auto"` means
            paired when `lr_dir` is set, else the layout `open_datasets`
            detects; `"div2k"` also finds the layout in `dir/DIV2K`.
        scale: the upscaling factor.
        split: `"train"` or `"valid"` (the default DIV2K range).
        key: the config key of `source` (`"data.train"`), named in errors.

    Returns:
        A list of `SRDataset`.

    Raises:
        InputError: `dir` unset or missing, `lr_dir` missing, or any error
            of the loaders.

    Example:

    ```python
    source = types.SimpleNamespace(type="auto", dir="DIV2K", lr_dir=None, range="1-800")
    datasets = open_data_source(source, 4, "train", "data.train")
    ```
    """
    if not source.dir:
        raise InputError(f"'{key}.dir' is not set")
    if not os.path.isdir(source.dir):
        raise InputError(
            f"'{key}.dir': folder '{source.dir}' does not exist; if the data "
            f"moved, pass --set {key}.dir=FOLDER"
        )
    kind = source.type
    if kind == "auto" and source.lr_dir:
        kind = "paired"
    if kind == "paired":
        if not os.path.isdir(source.lr_dir):
            raise InputError(
                f"'{key}.lr_dir': folder '{source.lr_dir}' does not exist; if "
                f"the data moved, pass --set {key}.lr_dir=FOLDER"
            )
        return [SRDataset.from_paired_folders(source.lr_dir, source.dir, scale)]
    if kind == "folder":
        return [SRDataset.from_hr_folder(source.dir, scale)]
    if kind == "div2k":
        root = _div2k_root(source.dir) or source.dir
        return [SRDataset.from_div2k(root, scale, split=split, data_range=source.range)]
    return open_datasets(source.dir, scale, split=split, data_range=source.range)


def first_images(datasets, limit):
    """The datasets cut to their first `limit` images in all (None: all of them).

    Datasets are taken in order; one that would hold no image is dropped.

    Example:

    ```python
    [len(d) for d in first_images([set5, set14], 7)]  # [5, 2]
    ```
    """
    if limit is None:
        return list(datasets)
    kept = []
    for dataset in datasets:
        if limit <= 0:
            break
        n = min(limit, len(dataset))
        kept.append(
            SRDataset(
                dataset.name,
                dataset.scale,
                dataset.hr_paths[:n],
                None if dataset.lr_paths is None else dataset.lr_paths[:n],
                dataset.border,
            )
        )
        limit -= n
    return kept
