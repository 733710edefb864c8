import keras

from keras_enlca.models.edsr_graph import build_edsr_graph
from keras_enlca.models.sr_model import SuperResolutionModel


@keras.saving.register_keras_serializable(package="keras_enlca")
class EDSR(SuperResolutionModel):
    """Enhanced Deep Super-Resolution network (EDSR).

    `sub_mean -> head (conv3x3 3->F) -> body (num_blocks ResidualBlocks +
    conv3x3) + global skip -> upsampler -> tail (conv3x3 F->3) -> add_mean`.
    The network works in `[0, rgb_range]` internally: the [0, 1] input is
    multiplied by `rgb_range` and the output divided by it. The official
    EDSR weights use `rgb_range=255`; NLSN and ENLCN use 1.

    Layer names (PyTorch keys in brackets): `input_scaling`, `sub_mean`
    (`sub_mean`), `head` (`head.0`), `body_{i}` for i in `[0, num_blocks)`
    (`body.{i}`, a `ResidualBlock` with `conv1` = `body.{i}.body.0` and
    `conv2` = `body.{i}.body.2`), `body_conv` (`body.{num_blocks}`),
    `body_skip`, `upsampler` with `upsampler.convs[k]` (`tail.0.{2k}`, output
    channels in `depth_to_space` order), `tail` (`tail.1`), `add_mean`
    (`add_mean`), `output_scaling`. `add_mean` and `output_scaling` run in
    float32 so the output is float32 under `mixed_float16`.

    Presets: `edsr_x{2,3,4}` (paper: 32 blocks, 256 filters, res_scale 0.1;
    43,089,947 parameters at x4), `edsr_baseline_x{2,3,4}` (16 blocks, 64
    filters) and `edsr_small_x{2,3,4}`.

    Args:
        scale: int. Upscaling factor: 2, 3, 4 (or 8).
        num_blocks: int. Number of residual blocks.
        filters: int. Number of feature channels.
        res_scale: float. Residual scaling of the blocks.
        rgb_range: float. Internal pixel range (255 for official weights).
        dtype: the dtype policy of the layers (`None` = the global policy).
        **kwargs: other keyword arguments passed to `keras.Model`, e.g.
            `name`.

    Call arguments:
        inputs: a float32 `(batch, height, width, 3)` RGB tensor in [0, 1],
            any height and width.

    Example:

    ```python
    model = keras_enlca.models.EDSR(scale=2, num_blocks=16, filters=64)
    sr = model.predict(np.random.rand(1, 31, 27, 3).astype("float32"))
    # sr.shape == (1, 62, 54, 3)
    ```

    Reference:
    - [Lim et al., Enhanced Deep Residual Networks for Single Image
      Super-Resolution, CVPRW 2017](https://arxiv.org/abs/1707.02921)
    """

    def __init__(
        self,
        scale=4,
        num_blocks=16,
        filters=64,
        res_scale=1.0,
        rgb_range=255.0,
        dtype=None,
        **kwargs,
    ):
        inputs, outputs, layers = build_edsr_graph(
            scale=scale,
            num_blocks=num_blocks,
            filters=filters,
            res_scale=res_scale,
            rgb_range=rgb_range,
            dtype=dtype,
        )
        super().__init__(
            inputs=inputs, outputs=outputs, scale=scale, dtype=dtype, **kwargs
        )
        self.num_blocks = int(num_blocks)
        self.filters = int(filters)
        self.res_scale = float(res_scale)
        self.rgb_range = float(rgb_range)
        self.body = layers["body"]
        self.upsampler = layers["upsampler"]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_blocks": self.num_blocks,
                "filters": self.filters,
                "res_scale": self.res_scale,
                "rgb_range": self.rgb_range,
            }
        )
        return config
