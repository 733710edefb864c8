from keras_enlca.errors import InputError


class UnknownSizeError(InputError):
    """A network that cannot be traced for any input height and width.

    Raised when a layer needs the height and width known (Keras' bilinear
    `UpSampling2D`) and the export has no fixed `--input-size`;
    `export_model` puts the model's name in front of the message.

    Args:
        where: the layer call that failed (`"UpSampling2D.call()"`), or a
            phrase such as `"a layer"`.

    Example:

    ```python
    raise UnknownSizeError("UpSampling2D.call()")
    ```
    """

    def __init__(self, where):
        super().__init__(
            f"{where} cannot run on inputs of unknown size; export a fixed input "
            "size with --input-size H W."
        )
        self.where = where
