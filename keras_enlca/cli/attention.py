"""`enlca attention`: draw where a model's non-local attention looks."""

import click

from keras_enlca.cli.options import model_argument


def parse_point(text):
    """`"X,Y"` -> `(x, y)` integers; anything else is a one-line error."""
    from keras_enlca.errors import InputError

    try:
        x, y = (int(part) for part in text.split(","))
    except ValueError:
        raise InputError(
            f"--at {text}: expected X,Y in pixels, e.g. --at 120,64"
        ) from None
    return x, y


@click.command(name="attention")
@model_argument(presets=True)
@click.argument("image", type=click.Path(path_type=str))
@click.option(
    "--at",
    "at",
    required=True,
    metavar="X,Y",
    help="The query pixel (column, row) in IMAGE, e.g. --at 120,64.",
)
@click.option(
    "--layer",
    default=None,
    metavar="NAME",
    help="Map only this attention layer (a name such as body_9, or a path "
    "such as backbone/body_9 inside a nested model). [default: all]",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Write the figure (PNG) here: the image with the "
    "marked point, then one panel per layer (ENLCA: approximated and exact).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON summary of the raw maps (shape, peak, entropy, top "
    "positions) on stdout.",
)
@click.option(
    "--colormap",
    type=click.Choice(["viridis", "magma"]),
    default="viridis",
    show_default=True,
    help="Perceptual colormap of the maps.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing -o file.")
def attention(model, image, at, layer, out_path, as_json, colormap, overwrite):
    """Attention maps of MODEL for one pixel of IMAGE (ENLCA paper, Figure 1).

    For the query pixel --at X,Y of IMAGE (the model's LR input), every NLA,
    NLSA and ENLCA layer of MODEL gives its attention weights over all
    positions: NLA the softmax row, NLSA the weights inside the query's hash
    buckets (chunks) over all rounds, ENLCA its random-feature approximation
    beside the exact softmax(k cos) it approximates. MODEL is a .keras file
    (trained, converted, or your own model holding these layers) or a preset
    name (random weights).

    \b
    Examples:
      enlca attention enlcn_x2.keras facade.png --at 120,64 -o map.png
      enlca attention nlsn_x2.keras facade.png --at 120,64 --layer body_9 -o map.png
      enlca attention enlcn_x2.keras facade.png --at 120,64 --json > map.json
    """
    import json
    import sys
    import time

    import keras

    from keras_enlca.data.io import image_shape
    from keras_enlca.data.io import read_image
    from keras_enlca.data.io import write_image
    from keras_enlca.errors import InputError
    from keras_enlca.inference.loader import load_model_for_eval
    from keras_enlca.utils.outputs import check_output
    from keras_enlca.visualization.attention_figure import attention_figure
    from keras_enlca.visualization.attention_map import attention_map

    if out_path is None and not as_json:
        raise InputError(
            "Give -o FILE.png for the figure, --json for the summary, or both."
        )
    x, y = parse_point(at)
    height, width = image_shape(image)[:2]
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(
            f"--at {at}: outside the {width}x{height} image {image} "
            f"(x in 0..{width - 1}, y in 0..{height - 1})."
        )
    if out_path is not None:
        out_path = check_output(out_path, overwrite=overwrite, option="-o")
    net, name = load_model_for_eval(model, keras_only=True)
    if not isinstance(net, keras.Model):
        raise InputError(
            f"{model}: attention maps need the Keras model (.keras file or preset); "
            "an exported SavedModel or .tflite hides its layers."
        )
    pixels = read_image(image)
    start = time.perf_counter()
    try:
        maps = attention_map(net, pixels, (x, y), layer=layer)
    except InputError as error:
        text = str(error)
        if layer is not None and text.startswith(f"{layer}:"):
            text = f"--layer {text}"
        raise InputError(text.replace(f"{net.name}:", f"{model}:", 1)) from None
    seconds = time.perf_counter() - start
    if out_path is not None:
        write_image(out_path, attention_figure(pixels, maps, colormap=colormap))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "model": name,
                    "image": image,
                    "point": {"x": x, "y": y},
                    "seconds": round(seconds, 3),
                    "layers": [item.summary() for item in maps],
                },
                indent=2,
            )
        )
    if out_path is not None:
        panels = 1 + sum(2 if item.exact is not None else 1 for item in maps)
        click.echo(
            f"Wrote {out_path}: {len(maps)} attention layer"
            f"{'s' if len(maps) != 1 else ''}, {panels} panels "
            f"({seconds:.1f} s)",
            err=as_json,
        )
    sys.stdout.flush()
