"""`enlca score`: PSNR/SSIM of SR images against ground truth, MATLAB conventions."""

import click

from keras_enlca.cli.options import scale_option
from keras_enlca.data.datasets import DATASET_SCALES


@click.command(name="score")
@click.argument("sr_dir", type=str)
@click.argument("hr_dir", type=str)
@scale_option(
    "score",
    required=True,
    help=f"Upscaling factor ({', '.join(map(str, DATASET_SCALES))}): the border "
    "shave and the _xN names.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Write per-image and mean results to this JSON file.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --json file.")
@click.option("--per-image", is_flag=True, help="List every image in the table.")
@click.option("--rgb", is_flag=True, help="Measure on RGB instead of luminance (Y).")
@click.option(
    "--shave",
    type=click.IntRange(min=0),
    default=None,
    help="Border pixels to ignore. [default: the scale]",
)
def score(sr_dir, hr_dir, scale, json_path, overwrite, per_image, rgb, shave):
    """Score the images in SR_DIR against the ground truth in HR_DIR.

    Works for results of any method: files are paired by name, ignoring
    suffixes such as _x4, x4, _SR, _HR and _<method> (baby_x4_SR.png,
    baby_RCAN_x4.png and babyx4.png all match baby.png or baby_HR_x4.png).
    PSNR and SSIM use the conventions of SR papers (RCAN's
    Evaluate_PSNR_SSIM.m): 8-bit images, MATLAB luminance, `scale` pixels
    shaved per border, 11x11 Gaussian SSIM; means over the images.

    \b
    Examples:
      enlca score results/Set5/x4 benchmark/Set5/HR --scale 4
      enlca score sr/ hr/ --scale 2 --per-image --json scores.json --overwrite
    """
    from keras_enlca.data.datasets import check_scale
    from keras_enlca.evaluation.scoring import score_folders
    from keras_enlca.utils.outputs import check_output

    scale = check_scale(scale)
    if json_path:
        json_path = check_output(json_path, overwrite=overwrite, option="--json")
    report = score_folders(sr_dir, hr_dir, scale, y_channel=not rgb, shave=shave)
    settings = report.settings
    click.echo(
        f"{report.model_name} vs {report.datasets[0]['name']} x{scale}: "
        f"{'Y' if settings['channel'] == 'y' else 'RGB'}, shave {settings['shave']}"
    )
    click.echo(report.format_table(per_image=per_image))
    if json_path:
        report.save_json(json_path)
        click.echo(f"Wrote {json_path}")
