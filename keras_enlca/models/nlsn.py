import keras

from keras_enlca.layers.non_local_sparse_attention import NonLocalSparseAttention
from keras_enlca.models.edsr_graph import build_edsr_graph
from keras_enlca.models.sr_model import SuperResolutionModel


@keras.saving.register_keras_serializable(package="keras_enlca")
class NLSN(SuperResolutionModel):
    """Non-Local Sparse Network: the EDSR trunk with NLSA modules.

    The EDSR network (see `EDSR`) whose body has a
    `NonLocalSparseAttention` module first and after every
    `attention_every` residual blocks: 32 blocks with `attention_every=8`
    give modules at body indices 0, 9, 18, 27, 36 and the body conv at 37,
    exactly as `nlsn.py` of the reference. The modules use the blocks'
    `res_scale` (0.1). The reference trains with `rgb_range=1`.

    Layer names (PyTorch keys in brackets): `input_scaling`, `sub_mean`,
    `head` (`head.0`), `body_{i}` (`body.{i}`: a `ResidualBlock`, or at the
    attention indices a `NonLocalSparseAttention` whose `match_embedding` is
    `body.{i}.conv_match.0` and `assembly_embedding` is
    `body.{i}.conv_assembly.0`), `body_conv` (`body.{last}`), `body_skip`,
    `upsampler` (`tail.0.{2k}` = `upsampler.convs[k]`, `depth_to_space`
    channel order), `tail` (`tail.1`), `add_mean`, `output_scaling`
    (float32). `model.attention_layers` lists the NLSA modules.

    Presets: `nlsn_x{2,3,4}` (paper: 41,796,187 parameters at x2) and
    `nlsn_small_x{2,3,4}`.

    Args:
        scale: int. Upscaling factor: 2, 3, 4 (or 8).
        num_blocks: int. Number of residual blocks.
        filters: int. Number of feature channels.
        res_scale: float. Residual scaling of the blocks and attention modules.
        rgb_range: float. Internal pixel range (reference: 1).
        attention_every: int. Residual blocks between attention modules.
        n_hashes: int. LSH rounds of each module.
        chunk_size: int. LSH chunk length.
        attention_reduction: int. Channel reduction of the match embedding.
        max_buckets: int. Cap on the LSH bucket count.
        random_rotations_in_training: bool. Fresh LSH rotations on every
            training call (reference behaviour).
        dtype: the dtype policy of the layers (`None` = the global policy).
        **kwargs: other keyword arguments passed to `keras.Model`, e.g.
            `name`.

    Call arguments:
        inputs: a float32 `(batch, height, width, 3)` RGB tensor in [0, 1],
            any height and width.

    Example:

    ```python
    model = keras_enlca.models.from_preset("nlsn_small_x2")
    sr = model.predict(np.random.rand(1, 31, 27, 3).astype("float32"))
    ```

    Reference:
    - [Mei et al., Image Super-Resolution with Non-Local Sparse Attention,
      CVPR 2021](https://openaccess.thecvf.com/content/CVPR2021/html/Mei_Image_Super-Resolution_With_Non-Local_Sparse_Attention_CVPR_2021_paper.html)
    """

    def __init__(
        self,
        scale=4,
        num_blocks=32,
        filters=256,
        res_scale=0.1,
        rgb_range=1.0,
        attention_every=8,
        n_hashes=4,
        chunk_size=144,
        attention_reduction=4,
        max_buckets=128,
        random_rotations_in_training=True,
        dtype=None,
        **kwargs,
    ):
        def make_attention(name):
            return NonLocalSparseAttention(
                n_hashes=n_hashes,
                chunk_size=chunk_size,
                reduction=attention_reduction,
                res_scale=res_scale,
                max_buckets=max_buckets,
                random_rotations_in_training=random_rotations_in_training,
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
        self.n_hashes = int(n_hashes)
        self.chunk_size = int(chunk_size)
        self.attention_reduction = int(attention_reduction)
        self.max_buckets = int(max_buckets)
        self.random_rotations_in_training = bool(random_rotations_in_training)
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
                "n_hashes": self.n_hashes,
                "chunk_size": self.chunk_size,
                "attention_reduction": self.attention_reduction,
                "max_buckets": self.max_buckets,
                "random_rotations_in_training": self.random_rotations_in_training,
            }
        )
        return config
