"""`enlca convert`: an authors' PyTorch checkpoint -> a `.keras` model."""

import click

from keras_enlca.cli.options import scale_option
from keras_enlca.convert.checkpoint_layouts import ARCHITECTURES
from keras_enlca.convert.checkpoint_layouts import get_layout


@click.command(name="convert")
@click.argument("checkpoint", type=click.Path(dir_okay=True, path_type=str))
@click.option(
    "--arch",
    required=True,
    type=click.Choice(ARCHITECTURES, case_sensitive=False),
    help="Network of the checkpoint (a2n-m: A2N with 1x1 non-attention convs).",
)
@scale_option(
    "convert",
    help="Upscaling factor; checked against the checkpoint. Needed for A2N "
    "x2/x3, which share one layout; read from the shapes otherwise.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="Output .keras file (written atomically). An existing one is an error unless "
    "--overwrite.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option(
    "--res-scale",
    type=float,
    default=None,
    help="Residual scaling of EDSR/NLSN/ENLCN (not stored in checkpoints). "
    "Default: 0.1 for NLSN, ENLCN and 256-feature EDSR, 1.0 for smaller EDSR.",
)
def convert(checkpoint, arch, scale, output, overwrite, res_scale):
    """Convert an authors' PyTorch CHECKPOINT (.pt/.pth) to a .keras model.

    The file is read with torch.load(weights_only=True), so no code in it
    runs. Sizes (blocks, features, scale, training range) come from the
    tensor shapes; every key is checked against the reference layout. The
    result takes and returns RGB in [0, 1] like every model of this library:
    evaluate, fine-tune, export or upscale with it.

    \b
    Examples:
      enlca convert ENLCAx4.pt --arch enlcn --scale 4 -o enlcn_x4.keras
      enlca convert aan_x2.pt --arch a2n --scale 2 -o a2n_x2.keras
      enlca convert model_x2.pt --arch nlsn -o nlsn_x2.keras
      enlca convert aan_x2.pt --arch a2n --scale 2 -o a2n_x2.keras --overwrite

    Needs PyTorch: pip install keras-enlca[torch]
    """
    from keras_enlca.convert.output import check_model_output

    # Fail fast (the output, the install hint) before importing PyTorch and
    # TensorFlow.
    check_model_output(output, checkpoint=checkpoint, overwrite=overwrite, option="-o")
    from keras_enlca.convert.checkpoint import import_torch

    import_torch()

    from keras_enlca.convert.torch_checkpoints import convert_checkpoint

    model = convert_checkpoint(
        checkpoint,
        arch.lower(),
        scale=None if scale is None else int(scale),
        output=output,
        res_scale=res_scale,
        overwrite=overwrite,
    )
    from keras_enlca.models.parameter_count import count_weights

    details = get_layout(arch.lower()).summary(model.get_config())
    click.echo(
        f"{checkpoint} -> {output}: {type(model).__name__} x{model.scale} ({details}), "
        f"{count_weights(model):,} weights. Input and output are RGB in [0, 1]."
    )
