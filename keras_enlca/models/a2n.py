import keras

from keras_enlca.layers.attention_in_attention_block import AttentionInAttentionBlock
from keras_enlca.layers.pixel_attention import PixelAttention
from keras_enlca.layers.resize_upsampling import ResizeUpsampling
from keras_enlca.models.sr_model import SuperResolutionModel


@keras.saving.register_keras_serializable(package="keras_enlca")
class A2N(SuperResolutionModel):
    """Attention in Attention Network (A2N, A2N-M), a lightweight SR network.

    `conv_first (3x3, 3->40)` -> 16 `AttentionInAttentionBlock`s ->
    `trunk_conv (3x3)` + skip from `conv_first` -> reconstruction: nearest
    upsampling by `scale` (x4: twice by 2), `upconv (3x3, ->24)`,
    LeakyReLU(0.2)(`PixelAttention`), LeakyReLU(0.2)(`hr_conv` 3x3) ->
    `conv_last (3x3, 24->3)` + bilinear upsampling of the input
    (`align_corners=False`). No mean shift; the network works in 0..255
    (`rgb_range`), the [0, 1] input is scaled up and the output back.
    A2N-M is `A2N(non_attention_kernel_size=1)`.

    Layer names (PyTorch keys of `aan.py` in brackets): `input_scaling`,
    `conv_first` (`conv_first`), `aab_{i}` (`AAB_trunk.{i}`, see
    `AttentionInAttentionBlock` for its sub-layers), `trunk_conv`
    (`trunk_conv`), `trunk_skip`, `upsample_1`, `upconv1` (`upconv1`),
    `att1` (`att1`, its `conv` = `att1.conv`), `lrelu_att1`, `hr_conv1`
    (`HRconv1`), `lrelu_hr1`, and for x4 `upsample_2`, `upconv2`, `att2`,
    `lrelu_att2`, `hr_conv2` (`HRconv2`), `lrelu_hr2`; then `conv_last`
    (`conv_last`), `skip_upsample`, `skip_add` and `output_scaling`.
    `input_scaling`, the skip path and the output run in float32 under
    `mixed_float16`.

    Parameters: A2N x2/x3 1,036,443, x4 1,047,459; A2N-M x2/x3 831,643,
    x4 842,659. Presets: `a2n_x{2,3,4}`, `a2n_m_x{2,3,4}`, `a2n_small_x{2,3,4}`.

    Args:
        scale: int. Upscaling factor: 2, 3 or 4.
        num_blocks: int. Number of attention-in-attention blocks (16).
        filters: int. Trunk channels (40).
        upsample_filters: int. Reconstruction channels (24).
        reduction: int. Channel reduction of the attention dropout module.
        temperature: float. Softmax temperature of the branch weights (30).
        non_attention_kernel_size: int. 3 (A2N) or 1 (A2N-M).
        rgb_range: float. Internal pixel range (255).
        dtype: the dtype policy of the layers (`None` = the global policy).
        **kwargs: other keyword arguments passed to `keras.Model`, e.g.
            `name`.

    Call arguments:
        inputs: a float32 `(batch, height, width, 3)` RGB tensor in [0, 1],
            any height and width.

    Example:

    ```python
    model = keras_enlca.models.A2N(scale=3)
    sr = model.predict(np.random.rand(1, 31, 27, 3).astype("float32"))
    # sr.shape == (1, 93, 81, 3)
    ```

    Reference:
    - [Chen et al., Attention in Attention Network for Image
      Super-Resolution, 2021](https://arxiv.org/abs/2104.09497)
    """

    def __init__(
        self,
        scale=4,
        num_blocks=16,
        filters=40,
        upsample_filters=24,
        reduction=4,
        temperature=30.0,
        non_attention_kernel_size=3,
        rgb_range=255.0,
        dtype=None,
        **kwargs,
    ):
        if scale not in (2, 3, 4):
            raise ValueError(f"A2N supports scale 2, 3 and 4. Received: scale={scale}")
        if num_blocks < 1:
            raise ValueError(f"`num_blocks` must be >= 1. Received: {num_blocks}")

        def conv(filters_out, kernel_size, name, layer_dtype=dtype):
            return keras.layers.Conv2D(
                filters_out, kernel_size, padding="same", dtype=layer_dtype, name=name
            )

        def lrelu(name):
            return keras.layers.LeakyReLU(negative_slope=0.2, dtype=dtype, name=name)

        # The input scaling, the global skip and the output stay in float32
        # (0..255 values) under `mixed_float16`.
        # Locals, not attributes: PyTorch's Module takes no attribute before
        # `super().__init__`.
        input_scaling = keras.layers.Rescaling(
            rgb_range, dtype="float32", name="input_scaling"
        )
        conv_first = conv(filters, 3, "conv_first")
        blocks = [
            AttentionInAttentionBlock(
                filters=filters,
                reduction=reduction,
                temperature=temperature,
                non_attention_kernel_size=non_attention_kernel_size,
                dtype=dtype,
                name=f"aab_{i}",
            )
            for i in range(num_blocks)
        ]
        trunk_conv = conv(filters, 3, "trunk_conv")
        trunk_skip = keras.layers.Add(dtype=dtype, name="trunk_skip")
        factors = [scale] if scale in (2, 3) else [2, 2]
        stages = []
        for index, factor in enumerate(factors, start=1):
            stages.append(
                [
                    ResizeUpsampling(
                        factor,
                        interpolation="nearest",
                        dtype=dtype,
                        name=f"upsample_{index}",
                    ),
                    conv(upsample_filters, 3, f"upconv{index}"),
                    PixelAttention(upsample_filters, dtype=dtype, name=f"att{index}"),
                    lrelu(f"lrelu_att{index}"),
                    conv(upsample_filters, 3, f"hr_conv{index}"),
                    lrelu(f"lrelu_hr{index}"),
                ]
            )
        conv_last = conv(3, 3, "conv_last")
        skip_upsample = ResizeUpsampling(
            scale, interpolation="bilinear", dtype="float32", name="skip_upsample"
        )
        skip_add = keras.layers.Add(dtype="float32", name="skip_add")
        output_scaling = keras.layers.Rescaling(
            1.0 / rgb_range, dtype="float32", name="output_scaling"
        )

        inputs = keras.Input(shape=(None, None, 3), dtype="float32", name="lr_image")
        scaled = input_scaling(inputs)
        fea = conv_first(scaled)
        trunk = fea
        for block in blocks:
            trunk = block(trunk)
        fea = trunk_skip([fea, trunk_conv(trunk)])
        for stage in stages:
            for layer in stage:
                fea = layer(fea)
        out = conv_last(fea)
        skip = skip_upsample(scaled)
        outputs = output_scaling(skip_add([out, skip]))
        super().__init__(
            inputs=inputs, outputs=outputs, scale=scale, dtype=dtype, **kwargs
        )
        self.num_blocks = int(num_blocks)
        self.filters = int(filters)
        self.upsample_filters = int(upsample_filters)
        self.reduction = int(reduction)
        self.temperature = float(temperature)
        self.non_attention_kernel_size = int(non_attention_kernel_size)
        self.rgb_range = float(rgb_range)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_blocks": self.num_blocks,
                "filters": self.filters,
                "upsample_filters": self.upsample_filters,
                "reduction": self.reduction,
                "temperature": self.temperature,
                "non_attention_kernel_size": self.non_attention_kernel_size,
                "rgb_range": self.rgb_range,
            }
        )
        return config
