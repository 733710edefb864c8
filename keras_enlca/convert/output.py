"""Where a converted model may be written (checked before reading anything)."""

import os

from keras_enlca.errors import InputError
from keras_enlca.utils.outputs import check_output


def check_model_output(output, checkpoint=None, overwrite=False, option=None):
    """Raises `InputError` unless `output` may receive the converted `.keras` model.

    The output must end with `.keras`, must not be the checkpoint itself,
    and follows the output rule of every command
    (`keras_enlca.utils.outputs.check_output`: an existing file only with
    `overwrite`, a writable folder). Cheap: it imports neither PyTorch nor
    TensorFlow, so `enlca convert` runs it first.

    Returns:
        `output` as a string.
    """
    output = os.fspath(output)
    if not output.endswith(".keras"):
        raise InputError(f"{output}: the output must be a .keras file.")
    if (
        checkpoint is not None
        and os.path.exists(os.fspath(checkpoint))
        and (os.path.realpath(output) == os.path.realpath(os.fspath(checkpoint)))
    ):
        raise InputError(f"{output}: would overwrite the checkpoint being converted.")
    return check_output(output, overwrite=overwrite, option=option)
