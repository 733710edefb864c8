"""`enlca upscale`: upscale image files with a .keras, SavedModel or .tflite model."""

import click

from keras_enlca.cli.options import model_argument
from keras_enlca.cli.options import recursive_option
from keras_enlca.cli.options import scale_option
from keras_enlca.cli.options import tile_options


@click.command(name="upscale")
@model_argument()
@click.argument(
    "inputs",
    nargs=-1,
    required=True,
    type=click.Path(path_type=str),
    metavar="INPUT...",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=str),
    help="Output folder; each result keeps its input's file name and format. "
    "Other files there are left alone; an existing output of the same name is "
    "an error unless --overwrite.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace existing outputs of the same names in the output folder.",
)
@tile_options("upscale")
@scale_option(
    "upscale", help="Expected upscaling factor; an error if the model differs."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="LiteRT / ONNX Runtime threads (.tflite, .onnx). [default: all cores]",
)
@recursive_option(
    "Take the images in the subfolders of INPUT folders too, written under "
    "the same relative paths in the output folder. Without it, skipped "
    "subfolders are counted in one warning."
)
@click.option(
    "--quiet",
    is_flag=True,
    help="No progress bar (there is none either when stderr is no terminal).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Run on a Ray cluster (pip install 'keras-enlca[ray]'): HOST:PORT of "
    "`ray start --head`, ray://HOST:PORT, 'local' for a new one on this host; "
    "bare --ray (after the inputs) takes RAY_ADDRESS or the cluster started here, "
    "else a new local one. Folders are walked recursively, .txt/.lst inputs "
    "list image paths; re-running resumes; failed images are listed in "
    "OUT/enlca-upscale-failures.txt. See docs/guides/collections.md.",
)
@click.option(
    "--num-workers",
    type=click.IntRange(min=1),
    default=None,
    help="--ray: model-holding workers. [default: fill the cluster's CPUs, or one "
    "per GPU]",
)
@click.option(
    "--threads-per-worker",
    type=click.IntRange(min=1),
    default=None,
    help="--ray: CPUs (LiteRT threads) per worker. [default: the smallest node's "
    "CPUs, at most 4]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="--ray: images per Ray task (a task whose worker dies is redone). "
    "[default: 1]",
)
def upscale(
    model,
    inputs,
    out_dir,
    overwrite,
    tile,
    overlap,
    scale,
    threads,
    recursive,
    quiet,
    ray_address,
    num_workers,
    threads_per_worker,
    batch_size,
):
    """Upscale INPUT images (files or folders) with MODEL into OUT folder.

    MODEL is a .keras file, a SavedModel folder or a .tflite file; .tflite
    models run in the LiteRT interpreter (ai_edge_litert), as on a phone.
    Outputs are written atomically under the input's file name and format;
    inputs, options and the output folder are checked before any work.

    \b
    Examples:
      enlca upscale enlcn_x2.tflite photo.jpg -o out/
      enlca upscale enlcn_x2.keras photos/ more.png -o out/ --tile 256 --overlap 24
      enlca upscale enlcn_x2.tflite photos/ -o out/ --overwrite   # redo earlier results
      enlca upscale enlcn_x2.keras big.png -o out/ --quiet   # no tile progress bar
      enlca upscale enlcn_x2.tflite photos/ -o out/ --ray   # Ray, resumable
      enlca upscale enlcn_x2.tflite list.txt -o out/ --ray=10.0.0.1:6379
    """
    ray_options = (num_workers, threads_per_worker, batch_size)
    if ray_address is None and any(v is not None for v in ray_options):
        raise click.UsageError(
            "--num-workers, --threads-per-worker and --batch-size need --ray."
        )
    if ray_address is not None:
        from keras_enlca.cli.upscale_ray import upscale_on_ray

        upscale_on_ray(
            model,
            inputs,
            out_dir,
            ray_address,
            overwrite=overwrite,
            tile=tile,
            overlap=overlap,
            scale=scale,
            num_workers=num_workers,
            threads_per_worker=threads_per_worker or threads,
            batch_size=batch_size or 1,
            quiet=quiet,
        )
        return
    import os

    from keras_enlca.inference.artifact_format import format_of_path
    from keras_enlca.inference.loader import open_runner
    from keras_enlca.inference.tiling import DEFAULT_TILE
    from keras_enlca.inference.tiling import tile_settings
    from keras_enlca.inference.upscale_files import plan_outputs
    from keras_enlca.inference.upscale_files import tiling_for
    from keras_enlca.inference.upscale_files import upscale_file

    tile_settings(DEFAULT_TILE if tile is None else tile, overlap)
    pairs = plan_outputs(inputs, out_dir, overwrite=overwrite, recursive=recursive)
    kwargs = (
        {"num_threads": threads} if threads and format_of_path(model).threads else {}
    )
    runner = open_runner(model, **kwargs)
    runner.check_scale(scale)
    tiling_for(runner, tile, overlap)  # reject bad --tile/--overlap before any work
    stderr = click.get_text_stream("stderr")
    # A progress bar only for a person watching: in a pipe or a log it is one
    # more line beside a possible error.
    if len(pairs) == 1 and stderr.isatty() and not quiet:
        # One (large) image: a bar over its tiles, shown from the first tile on.
        source, destination = pairs[0]
        bars = []

        def tile_progress(done, total):
            if not bars:
                if total < 2:
                    return
                bars.append(
                    click.progressbar(
                        length=total,
                        label=f"Upscaling {os.path.basename(source)} x{runner.scale}",
                        file=stderr,
                        show_pos=True,
                    )
                )
                bars[0].__enter__()
            bars[0].update(done - bars[0].pos)

        try:
            upscale_file(
                runner,
                source,
                destination,
                tile=tile,
                overlap=overlap,
                progress=tile_progress,
            )
        finally:
            if bars:
                bars[0].__exit__(None, None, None)
    elif len(pairs) == 1 or quiet or not stderr.isatty():
        for source, destination in pairs:
            upscale_file(runner, source, destination, tile=tile, overlap=overlap)
    else:
        with click.progressbar(
            pairs,
            label=f"Upscaling x{runner.scale}",
            file=stderr,
            item_show_func=lambda p: os.path.basename(p[0]) if p else None,
        ) as bar:
            for source, destination in bar:
                upscale_file(runner, source, destination, tile=tile, overlap=overlap)
    click.echo(
        f"Upscaled {len(pairs)} image{'s' if len(pairs) != 1 else ''} x{runner.scale} "
        f"into {out_dir}"
    )
