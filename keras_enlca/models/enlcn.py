import keras

from keras_enlca.layers.efficient_non_local_contrastive_attention import (
    EfficientNonLocalContrastiveAttention,
)
from keras_enlca.models.edsr_graph import build_edsr_graph
from keras_enlca.models.sr_model import SuperResolutionModel


@keras.saving.register_keras_serializable(package="keras_enlca")
class ENLCN(SuperResolutionModel):
    """Efficient Non-Local Contrastive Network: the EDSR trunk with ENLCA.

    The EDSR network (see `EDSR`) whose body has an
    `EfficientNonLocalContrastiveAttention` module first and after every
    `attention_every` residual blocks: 32 blocks with `attention_every=8`
    give modules at body indices 0, 9, 18, 27, 36 and the body conv at 37,
    exactly as `enlcn.py` of the reference. The modules use the blocks'
    `res_scale` (0.1). The reference trains with `rgb_range=1`. In training
    each module adds its contrastive loss; `SuperResolutionModel.train_step`
    adds `contrastive_weight` times their mean after the warm-up, and the
    `ProjectionRedraw` callback redraws their projection matrices.

    Layer names (PyTorch keys in brackets): `input_scaling`, `sub_mean`,
    `head` (`head.0`), `body_{i}` (`body.{i}`: a `ResidualBlock`, or at the
    attention indices an ENLCA layer with `query_embedding` =
    `body.{i}.conv_match1.0`, `key_embedding` = `body.{i}.conv_match2.0`,
    `value_embedding` = `body.{i}.conv_assembly.0` and the non-trainable
    `projection_matrix` = `body.{i}.attn_fn.projection_matrix`), `body_conv`
    (`body.{last}`), `body_skip`, `upsampler` (`tail.0.{2k}` =
    `upsampler.convs[k]`, `depth_to_space` channel order), `tail`
    (`tail.1`), `add_mean`, `output_scaling` (float32).
    `model.attention_layers` lists the ENLCA modules.

    Presets: `enlcn_x{2,3,4}` (paper: 43,583,387 parameters at x4) and
    `enlcn_small_x{2,3,4}`.

    Args:
        scale: int. Upscaling factor: 2, 3, 4 (or 8).
        num_blocks: int. Number of residual blocks.
        filters: int. Number of feature channels.
        res_scale: float. Residual scaling of the blocks and attention modules.
        rgb_range: float. Internal pixel range (reference: 1).
        attention_every: int. Residual blocks between attention modules.
        attention_reduction: int. Channel reduction of the query/key
            embeddings (256 -> 64).
        num_random_features: int. Random features of each module (128).
        amplification: float. Amplification `k` of the modules (6).
        contrastive: `"code"` (reference), `"paper"` or `None`: the form of
            the modules' contrastive loss.
        dtype: the dtype policy of the layers (`None` = the global policy).
        **kwargs: other keyword arguments passed to `keras.Model`, e.g.
            `name`.

    Call arguments:
        inputs: a float32 `(batch, height, width, 3)` RGB tensor in [0, 1],
            any height and width.
        training: bool. The modules add their contrastive losses in training.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    sr = model.predict(np.random.rand(1, 31, 27, 3).astype("float32"))
    ```

    Reference:
    - [Xia et al., Efficient Non-Local Contrastive Attention for Image
      Super-Resolution, AAAI 2022](https://arxiv.org/abs/2201.03794)
    """

    def __init__(
        self,
        scale=4,
        num_blocks=32,
        filters=256,
        res_scale=0.1,
        rgb_range=1.0,
        attention_every=8,
        attention_reduction=4,
        num_random_features=128,
        amplification=6.0,
        contrastive="code",
        dtype=None,
        **kwargs,
    ):
        def make_attention(name):
            return EfficientNonLocalContrastiveAttention(
                reduction=attention_reduction,
                res_scale=res_scale,
                num_random_features=num_random_features,
                amplification=amplification,
                contrastive=contrastive,
                dtype=dtype,
                name=name,
            )

        inputs, outputs, layers = build_edsr_graph(
            scale=scale,
            num_blocks=num_blocks,
            filters=filters,
            res_scale=res_scale,
            rgb_range=rgb_range,
            dtype=dtype,
            attention_every=attention_every,
            make_attention=make_attention,
        )
        super().__init__(
            inputs=inputs, outputs=outputs, scale=scale, dtype=dtype, **kwargs
        )
        self.num_blocks = int(num_blocks)
        self.filters = int(filters)
        self.res_scale = float(res_scale)
        self.rgb_range = float(rgb_range)
        self.attention_every = int(attention_every)
        self.attention_reduction = int(attention_reduction)
        self.num_random_features = int(num_random_features)
        self.amplification = float(amplification)
        self.contrastive = contrastive
        self.body = layers["body"]
        self.attention_layers = layers["attention"]
        self.upsampler = layers["upsampler"]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_blocks": self.num_blocks,
                "filters": self.filters,
                "res_scale": self.res_scale,
                "rgb_range": self.rgb_range,
                "attention_every": self.attention_every,
                "attention_reduction": self.attention_reduction,
                "num_random_features": self.num_random_features,
                "amplification": self.amplification,
                "contrastive": self.contrastive,
            }
        )
        return config
