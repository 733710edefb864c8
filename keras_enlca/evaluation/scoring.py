"""Score SR images made by any method against ground truth (`enlca score`)."""

import os

from keras_enlca.data.datasets import check_scale
from keras_enlca.data.io import is_grayscale_file
from keras_enlca.data.io import list_images
from keras_enlca.data.io import read_image
from keras_enlca.data.matching import match_files
from keras_enlca.errors import InputError
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.evaluation.metrics import ssim
from keras_enlca.evaluation.report import EvaluationReport


def score_folders(
    sr_dir, hr_dir, scale, y_channel=True, shave=None, method=None, progress=None
):
    """PSNR/SSIM of the SR images in `sr_dir` against the HR images in `hr_dir`.

    Files are paired by name, ignoring suffixes such as `_x4`, `x4`, `_SR`,
    `_HR` and `_<method>` (see `keras_enlca.data.match_files`), as the MATLAB
    `Evaluate_PSNR_SSIM.m` scripts of SR papers do. An HR image larger than
    its SR image by less than `scale` pixels (not modcropped) is cropped
    top-left; any other size difference is an error naming the pair.
    Metrics follow `keras_enlca.evaluation.psnr`/`ssim`: luminance, `scale`
    pixels shaved, 8-bit images. When both files of a pair are one-channel
    gray images they are compared on their gray levels, as
    `Evaluate_PSNR_SSIM.m` does (luminance of the replicated RGB would scale
    the differences by 219/255, +1.32 dB).

    Args:
        sr_dir: folder of SR images.
        hr_dir: folder of ground-truth images.
        scale: the upscaling factor (sets the shave and filters names).
        y_channel: luminance (papers) or RGB metrics.
        shave: border pixels ignored; defaults to `scale`.
        method: name for the report (default: the SR folder's name).
        progress: optional callable `progress(done, total, name)`.

    Returns:
        An `EvaluationReport` with one dataset (named after `hr_dir`).

    Example:

    ```python
    report = score_folders("results/Set5/x4", "benchmark/Set5/HR", scale=4)
    print(report.format_table(per_image=True))
    ```
    """
    scale = check_scale(scale)
    shave = scale if shave is None else int(shave)
    sr_paths = list_images(sr_dir)
    hr_paths = list_images(hr_dir)
    if not sr_paths:
        raise InputError(f"No images in {sr_dir}")
    if not hr_paths:
        raise InputError(f"No images in {hr_dir}")
    pairs = match_files(sr_paths, hr_paths, scale)
    images = []
    for done, (hr_path, sr_path) in enumerate(pairs, start=1):
        hr = read_image(hr_path)
        sr = read_image(sr_path)
        slack = (hr.shape[0] - sr.shape[0], hr.shape[1] - sr.shape[1])
        if not (0 <= slack[0] < scale and 0 <= slack[1] < scale):
            raise InputError(
                f"SR/HR size mismatch: {sr_path} is {sr.shape[1]}x{sr.shape[0]} but "
                f"{hr_path} is {hr.shape[1]}x{hr.shape[0]}"
            )
        hr = hr[: sr.shape[0], : sr.shape[1]]
        if is_grayscale_file(hr_path) and is_grayscale_file(sr_path):
            # MATLAB's script compares one-channel images on their gray levels.
            hr, sr = hr[..., 0], sr[..., 0]
        name = os.path.splitext(os.path.basename(hr_path))[0]
        images.append(
            {
                "name": name,
                "sr_file": os.path.basename(sr_path),
                "psnr": psnr(sr, hr, shave, y_channel),
                "ssim": ssim(sr, hr, shave, y_channel),
            }
        )
        if progress is not None:
            progress(done, len(pairs), name)
    psnrs = [e["psnr"] for e in images]
    ssims = [e["ssim"] for e in images]
    dataset = {
        "name": os.path.basename(os.path.normpath(os.fspath(hr_dir))),
        "lr_source": "files",
        "num_images": len(images),
        "psnr": sum(psnrs) / len(psnrs),
        "ssim": sum(ssims) / len(ssims),
        "images": images,
    }
    settings = {"channel": "y" if y_channel else "rgb", "shave": shave}
    method = method or os.path.basename(os.path.normpath(os.fspath(sr_dir)))
    return EvaluationReport(method, scale, settings, [dataset])
