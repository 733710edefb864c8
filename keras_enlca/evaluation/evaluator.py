"""Evaluate a super-resolution model on benchmark datasets, paper style."""

import dataclasses
import os
import time

import numpy as np

from keras_enlca.data.bicubic import bicubic_upscale
from keras_enlca.data.datasets import SRDataset
from keras_enlca.data.datasets import check_scale
from keras_enlca.data.datasets import open_datasets
from keras_enlca.data.io import write_image
from keras_enlca.errors import InputError
from keras_enlca.evaluation.chop import CHOP_VARIANTS
from keras_enlca.evaluation.chop import forward_chop
from keras_enlca.evaluation.ensemble import self_ensemble as run_self_ensemble
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.evaluation.metrics import quantize
from keras_enlca.evaluation.metrics import ssim
from keras_enlca.evaluation.report import EvaluationReport
from keras_enlca.inference.keras_runner import keras_forward
from keras_enlca.inference.tiling import DEFAULT_OVERLAP
from keras_enlca.inference.tiling import TiledUpscaler


def predict_fn(model):
    """A NumPy-in, NumPy-out callable for `model` (NHWC float32 in [0, 1]).

    A Keras model runs through `keras_enlca.inference.keras_forward` (graph
    mode, `training=False`, output not clipped), the forward pass
    `KerasRunner` uses too; any other callable (a LiteRT runner...) is used
    as is.
    """
    import keras

    if isinstance(model, keras.Model):
        return keras_forward(model)
    if not callable(model):
        raise InputError(f"Cannot evaluate {model!r}: not a Keras model or a callable")
    return lambda x: np.asarray(model(x), dtype=np.float32)


def sr_image_name(image, scale):
    """The file name of a saved SR image: `{image}_x{scale}_SR.png` (EDSR's
    `--save_results` naming, which `enlca score` pairs back)."""
    return f"{image}_x{scale}_SR.png"


def comparison_image_name(image, scale):
    """The file name of a comparison figure (`eval --save-comparisons`)."""
    return f"{image}_x{scale}_comparison.png"


def model_scale(model):
    """The `scale` attribute of a model or runner (None if it has none)."""
    scale = getattr(model, "scale", None)
    return int(scale) if isinstance(scale, (int, np.integer)) else None


def chop_variant_for(model):
    """The network's reference chop variant, from the registry of families:
    `"a2n"` for A2N networks, else `"enlca"` (ENLCN, NLSN, EDSR, unknown).

    Looks at the model (or a runner's `.model`) and at the `network` field
    of an exported model's metadata.
    """
    from keras_enlca.models.registry import chop_variant_of

    candidates = [model, getattr(model, "model", None)]
    metadata = getattr(model, "metadata", None)
    if isinstance(metadata, dict) and metadata.get("network"):
        candidates.append(str(metadata["network"]))
    for candidate in candidates:
        if candidate is not None:
            variant = chop_variant_of(candidate)
            if variant is not None:
                return variant
    return "enlca"


def _resolve_chop(chop, model):
    if chop in (False, None):
        return None
    if chop is True or chop == "auto":
        return chop_variant_for(model)
    if chop not in CHOP_VARIANTS:
        raise InputError(
            f"Unknown chop variant {chop!r}; use True/'auto' or one of "
            f"{sorted(CHOP_VARIANTS)}"
        )
    return chop


def upscale_image(
    fn,
    lr,
    scale,
    chop=None,
    tile=None,
    overlap=DEFAULT_OVERLAP,
    self_ensemble=False,
    tile_progress=None,
):
    """Upscale one image with the test-time options; returns float32 `(H, W, 3)`.

    Args:
        fn: NHWC float32 [0, 1] -> NHWC callable (see `predict_fn`).
        lr: `(h, w, 3)` uint8 or float [0, 1] image.
        scale: upscaling factor.
        chop: None, or a `forward_chop` variant ("enlca", "a2n").
        tile: None, or the LR tile size for `TiledUpscaler`.
        overlap: tile overlap in LR pixels.
        self_ensemble: average over the 8 flips/transposes.
        tile_progress: optional `progress(done, total)` of the tiler.
    """
    lr = np.asarray(lr)
    x = lr.astype(np.float32) / 255.0 if lr.dtype == np.uint8 else lr.astype(np.float32)
    x = x[None]
    if chop is not None and tile is not None:
        raise InputError("Choose either chop or tile, not both")
    if chop is not None:
        base = lambda b: forward_chop(fn, b, scale, variant=chop)  # noqa: E731
    elif tile is not None:
        upscaler = TiledUpscaler(
            fn, scale, tile=tile, overlap=overlap, progress=tile_progress
        )
        base = lambda b: np.stack([upscaler(image) for image in b])  # noqa: E731
    else:
        base = fn
    out = (
        run_self_ensemble(base, x) if self_ensemble else np.asarray(base(x), np.float32)
    )
    return out[0]


def _as_datasets(datasets, scale):
    if isinstance(datasets, (SRDataset, str, os.PathLike)):
        datasets = [datasets]
    result = []
    for item in datasets:
        if isinstance(item, SRDataset):
            if item.scale != scale:
                raise InputError(
                    f"Dataset {item.name} is at scale {item.scale}, evaluation at "
                    f"scale {scale}"
                )
            result.append(item)
        else:
            result.extend(open_datasets(item, scale))
    if not result:
        raise InputError("No datasets to evaluate")
    return result


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def evaluate(
    model,
    datasets,
    scale=None,
    chop=False,
    tile=None,
    overlap=DEFAULT_OVERLAP,
    self_ensemble=False,
    save_images=None,
    y_channel=True,
    shave=None,
    bicubic_baseline=True,
    model_name=None,
    progress=None,
    tile_progress=None,
    on_image=None,
):
    """PSNR/SSIM of `model` on datasets, as the papers measure them.

    Every LR image goes through the model (optionally chopped, tiled and/or
    self-ensembled), the output is clamped and rounded to `uint8`, and PSNR
    and SSIM are computed against the HR (cropped to `LR * scale`) with the
    MATLAB conventions: luminance, `shave = scale` pixels per border
    (`keras_enlca.evaluation.psnr`/`ssim`). Dataset values are means over
    their images. Gray HR files are replicated to RGB like the model's input,
    so their luminance is `16 + 219/255 * gray`, as the reference
    `calc_psnr` computes it. A bicubic baseline (MATLAB bicubic upscale of the same LR)
    is scored alongside.

    Args:
        model: a Keras model (NHWC float32 [0, 1] in and out) or any such
            callable (e.g. a LiteRT runner).
        datasets: an `SRDataset`, a dataset folder (any layout
            `keras_enlca.data.open_datasets` knows, e.g. `benchmark/Set5` or
            `benchmark/` for all sets), or a list of them.
        scale: upscaling factor; defaults to `model.scale`.
        chop: `False`, `True` (the model's reference variant: "a2n" for A2N,
            "enlca" otherwise) or a variant name, to run the reference
            `forward_chop` as the published numbers were made.
        tile: LR tile size for the overlap tiler instead (any image size,
            bounded memory); exclusive with `chop`.
        overlap: tile overlap in LR pixels.
        self_ensemble: the x8 self-ensemble ("+" results).
        save_images: folder to write the SR images to, as
            `{dataset}/{name}_x{scale}_SR.png`.
        y_channel: luminance metrics (papers); `False` for RGB.
        shave: border pixels ignored; defaults to `scale`.
        bicubic_baseline: also score the bicubic upscale.
        model_name: name in the report (default: `model.name` or the class).
        progress: optional callable `progress(done, total, dataset, image)`.
        tile_progress: optional callable `tile_progress(done, total,
            dataset, image)` after each batch of tiles (with `tile`).
        on_image: optional callable `on_image(dataset, image, lr, sr, hr,
            entry)` after each image is scored (`sr` uint8, `entry` its
            per-image results), e.g. to save comparison crops.

    Returns:
        An `EvaluationReport`.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    report = evaluate(model, "benchmark/Set5", chop=True)
    print(report.format_table(per_image=True))
    ```
    """
    scale, variant = _check_settings(model, scale, chop, tile)
    shave = scale if shave is None else int(shave)
    datasets = _as_datasets(datasets, scale)
    plan = _EvalPlan(
        fn=predict_fn(model),
        scale=scale,
        chop=variant,
        tile=tile,
        overlap=overlap,
        self_ensemble=self_ensemble,
        shave=shave,
        y_channel=y_channel,
        bicubic_baseline=bicubic_baseline,
        save_images=save_images,
        tile_progress=tile_progress,
    )
    name = model_name or getattr(model, "name", None) or type(model).__name__
    counter = _Progress(progress, sum(len(d) for d in datasets))
    results = [_score_dataset(plan, d, on_image, counter) for d in datasets]
    return EvaluationReport(name, scale, plan.settings(), results)


class _Progress:
    """Counts the scored images over all datasets for `progress`."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def image_done(self, dataset_name, image_name):
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, dataset_name, image_name)


def _score_dataset(plan, dataset, on_image, counter):
    """Score every image of `dataset`: its report row."""
    images = []
    start = time.perf_counter()
    for index in range(len(dataset)):
        image_name, lr, hr = dataset.load(index)
        entry, sr = _score_image(plan, dataset.name, image_name, lr, hr)
        if on_image is not None:
            on_image(dataset.name, image_name, lr, sr, hr, entry)
        images.append(entry)
        counter.image_done(dataset.name, image_name)
    return _dataset_result(dataset, images, time.perf_counter() - start)


@dataclasses.dataclass
class _EvalPlan:
    """How `evaluate` upscales and scores every image."""

    fn: object
    scale: int
    chop: object
    tile: object
    overlap: int
    self_ensemble: bool
    shave: int
    y_channel: bool
    bicubic_baseline: bool
    save_images: object
    tile_progress: object

    def settings(self):
        """The settings recorded in the report."""
        return {
            "chop": self.chop,
            "tile": self.tile,
            "overlap": self.overlap if self.tile is not None else None,
            "self_ensemble": bool(self.self_ensemble),
            "channel": "y" if self.y_channel else "rgb",
            "shave": self.shave,
        }


def _check_settings(model, scale, chop, tile):
    """`(scale, chop variant)`, checked against the model."""
    own_scale = model_scale(model)
    if scale is None:
        if own_scale is None:
            raise InputError("The model has no `scale`; pass scale=")
        scale = own_scale
    scale = check_scale(scale)
    if own_scale is not None and own_scale != scale:
        raise InputError(
            f"The model upscales x{own_scale} but scale {scale} was asked for"
        )
    variant = _resolve_chop(chop, model)
    if variant is not None and tile is not None:
        raise InputError("Choose either chop or tile, not both")
    return scale, variant


def _score_image(plan, dataset_name, image_name, lr, hr):
    """Upscale one LR image and score it: `(entry, sr uint8)`; the SR image
    is saved when `plan.save_images` is set."""
    tiles = None
    if plan.tile_progress is not None:

        def tiles(done_tiles, all_tiles):
            plan.tile_progress(done_tiles, all_tiles, dataset_name, image_name)

    t0 = time.perf_counter()
    sr = upscale_image(
        plan.fn,
        lr,
        plan.scale,
        chop=plan.chop,
        tile=plan.tile,
        overlap=plan.overlap,
        self_ensemble=plan.self_ensemble,
        tile_progress=tiles,
    )
    seconds = time.perf_counter() - t0
    sr = quantize(sr)
    if sr.shape != hr.shape:
        raise InputError(
            f"{dataset_name}/{image_name}: the model output {sr.shape} does "
            f"not match the HR image {hr.shape}"
        )
    shave, y_channel = plan.shave, plan.y_channel
    entry = {
        "name": image_name,
        "psnr": psnr(sr, hr, shave, y_channel),
        "ssim": ssim(sr, hr, shave, y_channel),
        "seconds": seconds,
    }
    if plan.bicubic_baseline:
        bicubic = bicubic_upscale(lr, plan.scale)
        entry["bicubic_psnr"] = psnr(bicubic, hr, shave, y_channel)
        entry["bicubic_ssim"] = ssim(bicubic, hr, shave, y_channel)
    if plan.save_images is not None:
        write_image(
            os.path.join(
                os.fspath(plan.save_images),
                dataset_name,
                sr_image_name(image_name, plan.scale),
            ),
            sr,
        )
    return entry, sr


def _dataset_result(dataset, images, seconds):
    """A dataset's report row: means over its images' entries."""
    return {
        "name": dataset.name,
        "lr_source": dataset.lr_source,
        "num_images": len(images),
        "psnr": _mean(e["psnr"] for e in images),
        "ssim": _mean(e["ssim"] for e in images),
        "bicubic_psnr": _mean(e.get("bicubic_psnr") for e in images),
        "bicubic_ssim": _mean(e.get("bicubic_ssim") for e in images),
        "seconds": seconds,
        "images": images,
    }
