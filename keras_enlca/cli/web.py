"""`enlca web`: a local page that upscales photos in the browser (LiteRT.js)."""

import sys

import click

from keras_enlca.web.web_server import DEFAULT_HOST
from keras_enlca.web.web_server import DEFAULT_MEMORY_BUDGET_MB
from keras_enlca.web.web_server import DEFAULT_PORT


@click.command(name="web")
@click.argument("models", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on. Anything but loopback lets other machines "
    "load the page (photos are still processed in their own browser).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port (0: any free port).",
)
@click.option(
    "--litertjs",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Folder of an `npm install @litertjs/core` (its --prefix). Default: "
    "$ENLCA_LITERTJS, ~/.cache/keras-enlca/litertjs, then the current folder.",
)
@click.option(
    "--memory-budget",
    type=click.IntRange(min=1),
    default=DEFAULT_MEMORY_BUDGET_MB,
    show_default=True,
    help="MiB the page may use for one image; larger photos are refused "
    "with a message.",
)
@click.option("--verbose", is_flag=True, help="Log every request.")
def web(models, host, port, litertjs, memory_budget, verbose):
    """Serve a page that upscales photos on this device with LiteRT.js.

    MODELS are .tflite exports with a fixed input shape (LiteRT.js cannot
    resize an input): `enlca export MODEL.keras --target web` (or
    `--input-size 128 128`), float32, float16 or int8. The page tiles
    photos of any size over that shape with the same overlap and blending
    as `enlca upscale`, shows a before/after slider and offers the result
    for download. Photos never leave the browser. LiteRT.js is installed
    once with npm (the page says how if it
    is missing).

    \b
    Examples:
      enlca web enlcn_x2_128.tflite a2n_x2_128_int8.tflite
      enlca web model.tflite --port 0 --host 0.0.0.0
    """
    from keras_enlca.web.web_server import WebServer

    server = WebServer(
        models,
        host=host,
        port=port,
        litertjs=litertjs,
        memory_budget_mb=memory_budget,
        verbose=verbose,
    )
    if server.litertjs_problem:
        click.echo(f"Warning: {server.litertjs_problem}", err=True)
    if not server.loopback_only:
        click.echo(
            f"Warning: listening on {host}: other machines can load this page.",
            err=True,
        )
    click.echo(f"enlca web: open {server.url} (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
        sys.exit(130)
    finally:
        server.server_close()
