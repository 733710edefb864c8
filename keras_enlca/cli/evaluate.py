"""`enlca eval`: PSNR/SSIM of a model on benchmark folders, paper conventions."""

import os

import click

from keras_enlca.cli.options import model_argument
from keras_enlca.cli.options import scale_option
from keras_enlca.cli.options import tile_options
from keras_enlca.data.datasets import DATASET_SCALES
from keras_enlca.evaluation.chop import CHOP_VARIANTS


@click.command(name="eval")
@model_argument(presets=True)
@click.argument(
    "dataset_dirs", nargs=-1, required=True, type=str, metavar="DATASET_DIR..."
)
@scale_option(
    "eval",
    help=f"Upscaling factor ({', '.join(map(str, DATASET_SCALES))}). "
    "[default: the model's]",
)
@click.option(
    "--chop",
    is_flag=True,
    help="Run the reference forward_chop (4 overlapping crops) as the published "
    "numbers were made: shave 10, min_size 120000 with /4,/8 rounding for "
    "ENLCN/NLSN/EDSR, 160000 without rounding for A2N.",
)
@click.option(
    "--chop-variant",
    type=click.Choice(["auto", *CHOP_VARIANTS]),
    default="auto",
    show_default=True,
    help="forward_chop variant; auto picks the network's.",
)
@tile_options("eval")
@click.option(
    "--self-ensemble",
    is_flag=True,
    help='Average the 8 flips/transposes before quantisation ("+" results).',
)
@click.option(
    "--save-images",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Write the SR images to DIR/<dataset>/<name>_x<scale>_SR.png.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Write per-image and per-dataset results to this JSON file.",
)
@click.option(
    "--save-comparisons",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Write per image DIR/<dataset>/<name>_x<scale>_comparison.png: one "
    "crop of LR (nearest), bicubic, SR and HR labelled with PSNR/SSIM.",
)
@click.option(
    "--crop",
    default=None,
    metavar="X,Y,W,H",
    help="The comparison crop in HR pixels (moved inside smaller images). "
    "[default: where SR and bicubic differ most]",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing --json file, SR images and comparisons of the "
    "same names.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--per-image", is_flag=True, help="List every image in the table.")
@click.option("--rgb", is_flag=True, help="Measure on RGB instead of luminance (Y).")
@click.option("--no-bicubic", is_flag=True, help="Skip the bicubic baseline.")
def evaluate(
    model,
    dataset_dirs,
    scale,
    chop,
    chop_variant,
    tile,
    overlap,
    self_ensemble,
    save_images,
    json_path,
    save_comparisons,
    crop,
    overwrite,
    quiet,
    per_image,
    rgb,
    no_bicubic,
):
    """Measure PSNR/SSIM of MODEL on DATASET_DIR... the way SR papers do.

    MODEL is a .keras file, a SavedModel folder, a .tflite file, or a preset
    name (fresh random weights: a smoke run). Each DATASET_DIR is an EDSR
    benchmark set (Set5/HR + Set5/LR_bicubic/X4), a folder of such sets, a
    DIV2K root (validation images 801-900), HR/ + LR/ folders paired by name,
    or a plain folder of HR images (LR made with the MATLAB bicubic).

    The SR output is clamped and rounded to 8 bits; PSNR and SSIM are computed
    on the MATLAB luminance with `scale` border pixels shaved (RCAN's
    Evaluate_PSNR_SSIM.m), and averaged over each dataset's images. A bicubic
    baseline row is included.

    \b
    Examples:
      enlca eval enlcn_x4.keras benchmark/Set5 benchmark/Set14 --scale 4 --chop
      enlca eval a2n_x2.keras benchmark/ --chop --json a2n_x2.json --per-image
      enlca eval enlcn_small_x2 ~/photos/hr --tile 128 --self-ensemble
      enlca eval a2n_x2.keras benchmark/ --json a2n_x2.json --overwrite
      enlca eval enlcn_x4.keras benchmark/Urban100 --save-comparisons crops/
      enlca eval enlcn_x4.keras benchmark/Set5 --save-comparisons crops/ \\
          --crop 60,80,64,64
    """
    import sys

    # Options and outputs first: these need no TensorFlow.
    crop, tile, overlap, json_path = _check_options(
        chop, tile, overlap, crop, save_comparisons, json_path, overwrite
    )
    net, name, scale = _load_model(model, scale)
    datasets = _open_eval_datasets(dataset_dirs, scale)
    _check_image_outputs(datasets, scale, save_images, save_comparisons, overwrite)
    bar = _progress_bar(sum(len(d) for d in datasets), scale, quiet)

    def progress(done, total, dataset, image):
        bar.update(1, current_item=f"{dataset}/{image}")

    def tile_progress(done, total, dataset, image):
        bar.update(0, current_item=f"{dataset}/{image} tile {done}/{total}")

    from keras_enlca.evaluation.evaluator import evaluate as run_evaluation

    save_comparison = _comparison_saver(save_comparisons, scale, crop, rgb)
    with bar:
        report = run_evaluation(
            net,
            datasets,
            scale=scale,
            chop=(chop_variant if chop_variant != "auto" else True) if chop else False,
            tile=tile,
            overlap=overlap,
            self_ensemble=self_ensemble,
            save_images=save_images,
            y_channel=not rgb,
            bicubic_baseline=not no_bicubic,
            model_name=name,
            progress=progress,
            tile_progress=tile_progress if tile else None,
            on_image=save_comparison if save_comparisons else None,
        )
    _print_report(report, name, scale, per_image)
    _save_report(report, json_path, save_images, save_comparisons)
    sys.stdout.flush()


def _check_options(chop, tile, overlap, crop, save_comparisons, json_path, overwrite):
    """The checked options (no TensorFlow needed): `(crop, tile, overlap,
    json_path)`."""
    from keras_enlca.errors import InputError
    from keras_enlca.inference.tiling import tile_settings
    from keras_enlca.utils.outputs import check_output

    if chop and tile:
        raise InputError("Use either --chop or --tile, not both")
    if crop is not None:
        try:
            crop = tuple(int(v) for v in crop.split(","))
        except ValueError:
            crop = ()
        if len(crop) != 4 or min(crop[2:]) < 1 or min(crop[:2]) < 0:
            raise InputError(
                "--crop: expected X,Y,W,H in HR pixels (W, H >= 1), "
                "e.g. --crop 60,80,64,64"
            )
        if not save_comparisons:
            raise InputError("--crop needs --save-comparisons DIR")
    tile_pair, overlap = tile_settings(tile, overlap)
    tile = tile_pair[0] if tile_pair else None
    if json_path:
        json_path = check_output(json_path, overwrite=overwrite, option="--json")
    return crop, tile, overlap, json_path


def _load_model(model, scale):
    """The network, its report name and the scale, checked to agree."""
    from keras_enlca.data.datasets import check_scale
    from keras_enlca.errors import InputError
    from keras_enlca.evaluation.evaluator import model_scale

    if scale is not None:
        scale = check_scale(scale)
    from keras_enlca.inference.loader import load_model_for_eval

    net, name = load_model_for_eval(model)
    own = model_scale(net)
    if scale is None:
        if own is None:
            raise InputError(f"{model}: cannot tell its scale; pass --scale")
        scale = own
    if own is not None and own != scale:
        raise InputError(f"{model} is a x{own} model, but --scale {scale} was given")
    return net, name, scale


def _open_eval_datasets(dataset_dirs, scale):
    """The datasets of every folder; warns of images too small to upscale."""
    from keras_enlca.data.datasets import open_datasets
    from keras_enlca.data.io import image_shape
    from keras_enlca.inference.tiling import warn_small_inputs

    datasets = []
    for folder in dataset_dirs:
        datasets.extend(open_datasets(folder, scale))
    warn_small_inputs(
        (lr, image_shape(lr))
        if lr
        else (hr, tuple(v // scale for v in image_shape(hr)))
        for d in datasets
        for hr, lr in zip(d.hr_paths, d.lr_paths or [None] * len(d.hr_paths))
    )
    return datasets


def _check_image_outputs(datasets, scale, save_images, save_comparisons, overwrite):
    """No SR image or comparison figure overwritten without --overwrite."""
    from keras_enlca.evaluation.evaluator import comparison_image_name
    from keras_enlca.evaluation.evaluator import sr_image_name
    from keras_enlca.utils.outputs import check_output_files

    if save_images:
        check_output_files(
            [
                os.path.join(save_images, d.name, sr_image_name(n, scale))
                for d in datasets
                for n in d.names
            ],
            overwrite=overwrite,
            option="--save-images",
        )
    if save_comparisons:
        check_output_files(
            [
                os.path.join(save_comparisons, d.name, comparison_image_name(n, scale))
                for d in datasets
                for n in d.names
            ],
            overwrite=overwrite,
            option="--save-comparisons",
        )


def _progress_bar(total, scale, quiet):
    """A progress bar only for a person watching: in a pipe or a log it
    would be one more line beside a possible error."""
    stderr = click.get_text_stream("stderr")
    return click.progressbar(
        length=total,
        label=f"Evaluating x{scale}",
        file=stderr,
        show_pos=True,
        item_show_func=lambda item: item,
        hidden=quiet or not stderr.isatty(),
    )


def _comparison_saver(save_comparisons, scale, crop, rgb):
    """The `on_image` callback writing one comparison figure per image."""

    def save_comparison(dataset, image, lr, sr, hr, entry):
        from keras_enlca.data.bicubic import bicubic_upscale
        from keras_enlca.data.io import write_image
        from keras_enlca.evaluation.comparison_figure import comparison_figure
        from keras_enlca.evaluation.evaluator import comparison_image_name
        from keras_enlca.evaluation.metrics import psnr
        from keras_enlca.evaluation.metrics import ssim

        bicubic = bicubic_upscale(lr, scale)
        scores = dict(entry)
        if "bicubic_psnr" not in scores:
            scores["bicubic_psnr"] = psnr(bicubic, hr, scale, not rgb)
            scores["bicubic_ssim"] = ssim(bicubic, hr, scale, not rgb)
        figure, _ = comparison_figure(
            lr, bicubic, sr, hr, scale, crop=crop, name=image, scores=scores
        )
        write_image(
            os.path.join(
                save_comparisons, dataset, comparison_image_name(image, scale)
            ),
            figure,
        )

    return save_comparison


def _print_report(report, name, scale, per_image):
    """The settings line and the table."""
    settings = report.settings
    how = []
    if settings["chop"]:
        how.append(f"chop ({settings['chop']})")
    if settings["tile"]:
        how.append(f"tile {settings['tile']}, overlap {settings['overlap']}")
    if settings["self_ensemble"]:
        how.append("x8 self-ensemble")
    how.append(
        f"{'Y' if settings['channel'] == 'y' else 'RGB'}, shave {settings['shave']}"
    )
    click.echo(f"{name} x{scale}: {'; '.join(how)}")
    click.echo(report.format_table(per_image=per_image))


def _save_report(report, json_path, save_images, save_comparisons):
    """The JSON report, and where the outputs went."""
    if json_path:
        report.save_json(json_path)
        click.echo(f"Wrote {json_path}")
    if save_images:
        click.echo(f"SR images in {save_images}")
    if save_comparisons:
        click.echo(f"Comparisons in {save_comparisons}")
