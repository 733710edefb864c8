"""Arguments and options shared by the `enlca` commands, each defined once.

A command takes `--scale`, `--tile`/`--overlap`, `--input-size`,
`--recursive` or its MODEL argument from here, so that a range, a default or
a help text is written in one place. No TensorFlow is imported (the
LiteRT-only install uses these).
"""

import click

from keras_enlca.data.datasets import DATASET_SCALES
from keras_enlca.data.datasets import PUBLISHED_SCALES
from keras_enlca.inference.tiling import DEFAULT_OVERLAP
from keras_enlca.inference.tiling import DEFAULT_TILE
from keras_enlca.inference.tiling import MIN_TILE

# The smallest factor a super-resolution model upscales by.
MIN_SCALE = 2

# command -> the scales its --scale accepts (None: any integer >= MIN_SCALE;
# the model or the preset decides).
SCALES = {
    "convert": PUBLISHED_SCALES,  # the authors' checkpoints
    "eval": DATASET_SCALES,  # the benchmark layouts (LR_bicubic/X2 ... X8)
    "score": DATASET_SCALES,
    "train": None,
    "export": None,
    "upscale": None,
}


class ScaleType(click.ParamType):
    """An upscaling factor: an integer >= `MIN_SCALE`, or one of `choices`."""

    name = "scale"

    def __init__(self, choices=None):
        self.choices = tuple(choices) if choices else None

    def get_metavar(self, param, ctx=None):
        if self.choices:
            return "[" + "|".join(map(str, self.choices)) + "]"
        return f"N>={MIN_SCALE}"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip().lower().removeprefix("x")
            try:
                number = int(text)
            except ValueError:
                self.fail(f"{value!r} is not an integer scale such as 2.", param, ctx)
        if self.choices and number not in self.choices:
            self.fail(
                f"{number} is not one of {', '.join(map(str, self.choices))}.",
                param,
                ctx,
            )
        if number < MIN_SCALE:
            self.fail(f"{number} is below {MIN_SCALE}.", param, ctx)
        return number


def scale_option(
    command,
    help="Expected upscaling factor; an error if the model differs.",
    required=False,
):
    """`--scale` for `command`, with the range `SCALES[command]` allows."""
    return click.option(
        "--scale",
        type=ScaleType(SCALES[command]),
        default=None,
        required=required,
        help=help,
    )


def model_argument(presets=False):
    """The MODEL argument: a `.keras` file, a SavedModel folder or a
    `.tflite` file; with `presets`, a preset name too (not checked as a
    path)."""
    return click.argument("model", type=str if presets else click.Path(path_type=str))


def tile_options(command):
    """`--tile` and `--overlap` (LR pixels) of the tiling commands."""
    defaults = {
        "upscale": f"[default: {DEFAULT_TILE}, or the fixed input size of an "
        "--input-size export]",
        "eval": "Not with --chop. [default: whole images]",
    }

    def decorate(function):
        function = click.option(
            "--overlap",
            type=click.IntRange(min=0),
            default=None,
            help="LR pixels shared by neighbouring tiles, less than half the tile. "
            f"[default: {DEFAULT_OVERLAP}, reduced to fit a small --tile]",
        )(function)
        return click.option(
            "--tile",
            type=click.IntRange(min=0),
            default=None,
            help=f"LR tile size in pixels (at least {MIN_TILE}): images are "
            "upscaled tile by tile with blended overlaps, so memory stays "
            f"bounded. 0 = whole image at once. {defaults[command]}",
        )(function)

    return decorate


def _check_fixed_tile(ctx, param, value):
    if value and min(value) < MIN_TILE:
        raise click.BadParameter(
            f"{value[0]} {value[1]} is below the {MIN_TILE}-pixel minimum tile "
            f"that enlca upscale and eval enforce; use at least {MIN_TILE} "
            f"{MIN_TILE}.",
            ctx=ctx,
            param=param,
        )
    return value


def input_size_options():
    """`--input-size H W` of `enlca export`, the fixed input size (same
    minimum as the tiles), and `--tile H W`, its deprecated old name."""

    def decorate(function):
        function = click.option(
            "--tile",
            nargs=2,
            type=click.IntRange(min=1),
            default=None,
            metavar="H W",
            callback=_check_fixed_tile,
            help="Deprecated name of --input-size (removed in the next release).",
        )(function)
        return click.option(
            "--input-size",
            nargs=2,
            type=click.IntRange(min=1),
            default=None,
            metavar="H W",
            callback=_check_fixed_tile,
            help="Fix the input shape to H x W, at least "
            f"{MIN_TILE} x {MIN_TILE} (for runtimes that want static shapes). "
            "Default: the --target's (any height and width for cpu).",
        )(function)

    return decorate


def recursive_option(help):
    """`--recursive`: take images in the subfolders of folder inputs too."""
    return click.option("--recursive", is_flag=True, help=help)
