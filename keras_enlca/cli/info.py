"""`enlca info`: what a `.keras`, SavedModel or `.tflite` model is."""

import json

import click

from keras_enlca.cli.options import model_argument


@click.command(name="info")
@model_argument()
@click.option("--json", "as_json", is_flag=True, help="Print the information as JSON.")
def info(model, as_json):
    """Show network, scale, parameter count and input range of MODEL.

    MODEL is a .keras file, a SavedModel folder or a .tflite file. For
    exported models the metadata written by `enlca export` (MODEL.json
    beside it, or the copy inside the model) adds quantization, tile,
    source model and verification results; the scale is always measured
    by running the model once.

    \b
    Examples:
      enlca info enlcn_x2.keras
      enlca info enlcn_x2_int8.tflite
      enlca info enlcn_x2_savedmodel --json
    """
    from keras_enlca.inference.model_info import format_info
    from keras_enlca.inference.model_info import model_info

    details = model_info(model)
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    for line in format_info(details):
        click.echo(line)
