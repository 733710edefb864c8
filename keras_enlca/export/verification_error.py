"""The error of an export whose measured drop is over the budget."""

from keras_enlca.errors import InputError


class VerificationError(InputError):
    """`--verify` measured a PSNR-Y drop over `--max-drop`.

    A user-facing error (one line, exit status 1 from the CLI): the budget
    is the user's input. `export_model` removes the artifact and JSON it
    wrote before raising it, so that a failed gate leaves nothing to ship.

    Args:
        path: the artifact.
        drop: the measured drop (dB).
        max_drop: the budget (dB).
        images: how many images were measured.

    Example:

    ```python
    try:
        export_model(
            "m.keras", "m.tflite", quantize="int8", verify="Set5/HR", max_drop=0.1
        )
    except VerificationError as error:
        print(error.drop)
    ```
    """

    def __init__(self, path, drop, max_drop, images):
        self.path, self.drop, self.max_drop, self.images = path, drop, max_drop, images
        super().__init__(
            f"--verify: {path} loses {drop:.3f} dB PSNR-Y against the Keras model on "
            f"{images} image(s), over --max-drop {max_drop:g} dB; removed it."
        )
