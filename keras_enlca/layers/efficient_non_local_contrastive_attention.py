import keras
from keras import ops

from keras_enlca.layers.contrastive import CONTRASTIVE_FORMS
from keras_enlca.layers.contrastive import contrastive_loss
from keras_enlca.layers.l2_normalize import l2_normalize
from keras_enlca.layers.random_features import gaussian_orthogonal_random_matrix
from keras_enlca.layers.random_features import linear_attention
from keras_enlca.layers.random_features import positive_random_features


@keras.saving.register_keras_serializable(package="keras_enlca")
class EfficientNonLocalContrastiveAttention(keras.layers.Layer):
    """Efficient Non-Local Contrastive Attention (ENLCA).

    Non-local attention at linear cost in the number of positions: queries
    and keys are L2-normalised and amplified (`sqrt(k)` each, so `q . k =
    k cos`), `exp(q . k)` is approximated by positive random features
    `phi(q) . phi(k)` with `m` block-orthogonal Gaussian projections, and
    attention is computed as `D^-1 phi(Q) (phi(K)^T V)`. In training, a
    contrastive loss pushes the most similar keys away from less similar
    ones (added with `add_loss`, unweighted, so `layer.losses` holds the
    value of the last call). The output is `x + res_scale * attention(x)`.

    Defaults reproduce the reference code (`attention.py` / `ENLA.py` of
    Zj-BinXia/ENLCA), which produced the published numbers. Differences
    from the paper, available as options: the contrastive ranks
    (`contrastive="paper"` uses n1 = 2 %, n2 = 8 % of positions and Eq. 10
    without the hinge); the paper redraws the projection every epoch, the
    code every 640 iterations (that is the training callback's setting).

    The projection matrix is a non-trainable weight, saved with the model,
    so inference and exported graphs are deterministic; `redraw_projection()`
    draws a new one (the `ProjectionRedraw` callback calls it in training).
    The random-feature math runs in float32 under any dtype policy:
    `q . P^T` reaches ~20, and `exp` of it overflows float16.

    Args:
        reduction: int. The query/key embeddings have `channels // reduction`
            channels (reference: 4, i.e. 256 -> 64).
        res_scale: float. Residual scale of the attention output
            (reference ENLCN: 0.1).
        num_random_features: int. Number `m` of random features (128).
        amplification: float. The amplification factor `k`; queries and keys
            are each multiplied by `sqrt(k)` after normalisation (6).
        orthogonal_features: bool. Block-orthogonal projection rows
            (reference) or i.i.d. Gaussian rows.
        projection_sign_correction: bool. The reference orthogonalises with
            a raw QR factor, which is not uniformly distributed and makes the
            kernel estimate slightly biased; `True` draws Haar-distributed
            blocks (unbiased). See `gaussian_orthogonal_random_matrix`.
        feature_epsilon: float. Added inside the feature map (1e-4).
        normalize_epsilon: float. L2 normalisation divides by
            `max(|x|, normalize_epsilon)` like `F.normalize(eps=5e-5)`.
        contrastive: `"code"` (reference), `"paper"` or `None` (no loss).
        contrastive_margin: float. Margin `b` (1).
        contrastive_top: int. Code form: relevant and irrelevant rank count
            (15).
        contrastive_negative_start: int. Code form: first irrelevant rank
            (50). The code form needs at least
            `contrastive_negative_start + contrastive_top` positions.
        contrastive_relevant_fraction: float. Paper form `n1` (0.02).
        contrastive_irrelevant_start_fraction: float. Paper form `n2` (0.08).
        contrastive_query_chunk_size: int. Queries ranked at once; bounds
            the memory of the loss.
        projection_seed: optional int. Seed of the first projection draw.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`, any batch,
            height and width.
        training: bool. Computes and adds the contrastive loss when `True`.

    Example:

    ```python
    inputs = keras.Input((None, None, 64))
    x = keras.layers.Conv2D(64, 3, padding="same")(inputs)
    x = keras_enlca.layers.ENLCA(reduction=4, res_scale=0.1)(x)
    model = keras.Model(inputs, x)
    y = model(np.random.rand(2, 48, 48, 64).astype("float32"))
    ```

    Reference:
        - [Xia et al., Efficient Non-Local Contrastive Attention for Image
          Super-Resolution, AAAI 2022](https://arxiv.org/abs/2201.03794)
        - [Choromanski et al., Rethinking Attention with Performers,
          ICLR 2021](https://arxiv.org/abs/2009.14794)
    """

    def __init__(
        self,
        reduction=4,
        res_scale=0.1,
        num_random_features=128,
        amplification=6.0,
        orthogonal_features=True,
        projection_sign_correction=False,
        feature_epsilon=1e-4,
        normalize_epsilon=5e-5,
        contrastive="code",
        contrastive_margin=1.0,
        contrastive_top=15,
        contrastive_negative_start=50,
        contrastive_relevant_fraction=0.02,
        contrastive_irrelevant_start_fraction=0.08,
        contrastive_query_chunk_size=512,
        projection_seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if contrastive is not None and contrastive not in CONTRASTIVE_FORMS:
            raise ValueError(
                f"`contrastive` must be one of {CONTRASTIVE_FORMS} or None, "
                f"got {contrastive!r}."
            )
        self.reduction = reduction
        self.res_scale = res_scale
        self.num_random_features = num_random_features
        self.amplification = amplification
        self.orthogonal_features = orthogonal_features
        self.projection_sign_correction = projection_sign_correction
        self.feature_epsilon = feature_epsilon
        self.normalize_epsilon = normalize_epsilon
        self.contrastive = contrastive
        self.contrastive_margin = contrastive_margin
        self.contrastive_top = contrastive_top
        self.contrastive_negative_start = contrastive_negative_start
        self.contrastive_relevant_fraction = contrastive_relevant_fraction
        self.contrastive_irrelevant_start_fraction = (
            contrastive_irrelevant_start_fraction
        )
        self.contrastive_query_chunk_size = contrastive_query_chunk_size
        self.projection_seed = projection_seed
        self.supports_masking = False

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ENLCA needs a known channel dimension.")
        self.embedding_dim = max(1, channels // self.reduction)
        self.query_embedding = keras.layers.Conv2D(
            self.embedding_dim, 1, dtype=self.dtype_policy, name="query_embedding"
        )
        self.key_embedding = keras.layers.Conv2D(
            self.embedding_dim, 1, dtype=self.dtype_policy, name="key_embedding"
        )
        self.value_embedding = keras.layers.Conv2D(
            channels, 1, dtype=self.dtype_policy, name="value_embedding"
        )
        for layer in (self.query_embedding, self.key_embedding, self.value_embedding):
            layer.build(input_shape)
        self.projection_matrix = self.add_weight(
            name="projection_matrix",
            shape=(self.num_random_features, self.embedding_dim),
            initializer="zeros",
            trainable=False,
            dtype="float32",
            autocast=False,
        )
        self.redraw_projection(seed=self.projection_seed)

    def redraw_projection(self, seed=None):
        """Draw a new projection matrix (in place) and return it.

        Args:
            seed: optional int; `None` draws from NumPy's global state.
        """
        matrix = gaussian_orthogonal_random_matrix(
            self.num_random_features,
            self.embedding_dim,
            seed=seed,
            orthogonal=self.orthogonal_features,
            sign_correction=self.projection_sign_correction,
        )
        self.projection_matrix.assign(matrix)
        return matrix

    def _normalize(self, x):
        x = l2_normalize(x, self.normalize_epsilon)
        return x * (self.amplification**0.5)

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        channels = inputs.shape[-1]
        query = ops.cast(self.query_embedding(inputs), "float32")
        key = ops.cast(self.key_embedding(inputs), "float32")
        value = ops.cast(self.value_embedding(inputs), "float32")
        query = ops.reshape(self._normalize(query), (batch, -1, self.embedding_dim))
        key = ops.reshape(self._normalize(key), (batch, -1, self.embedding_dim))
        value = ops.reshape(value, (batch, -1, channels))

        if training and self.contrastive is not None:
            self.add_loss(
                contrastive_loss(
                    query,
                    key,
                    form=self.contrastive,
                    margin=self.contrastive_margin,
                    top=self.contrastive_top,
                    negative_start=self.contrastive_negative_start,
                    relevant_fraction=self.contrastive_relevant_fraction,
                    irrelevant_start_fraction=self.contrastive_irrelevant_start_fraction,
                    query_chunk_size=self.contrastive_query_chunk_size,
                    name=f"the input of layer '{self.name}'",
                )
            )

        projection = ops.convert_to_tensor(self.projection_matrix)
        attended = linear_attention(
            positive_random_features(query, projection, self.feature_epsilon),
            positive_random_features(key, projection, self.feature_epsilon),
            value,
        )
        attended = ops.reshape(attended, (batch, height, width, channels))
        return inputs + ops.cast(attended * self.res_scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "res_scale": self.res_scale,
                "num_random_features": self.num_random_features,
                "amplification": self.amplification,
                "orthogonal_features": self.orthogonal_features,
                "projection_sign_correction": self.projection_sign_correction,
                "feature_epsilon": self.feature_epsilon,
                "normalize_epsilon": self.normalize_epsilon,
                "contrastive": self.contrastive,
                "contrastive_margin": self.contrastive_margin,
                "contrastive_top": self.contrastive_top,
                "contrastive_negative_start": self.contrastive_negative_start,
                "contrastive_relevant_fraction": self.contrastive_relevant_fraction,
                "contrastive_irrelevant_start_fraction": (
                    self.contrastive_irrelevant_start_fraction
                ),
                "contrastive_query_chunk_size": self.contrastive_query_chunk_size,
                "projection_seed": self.projection_seed,
            }
        )
        return config


ENLCA = EfficientNonLocalContrastiveAttention
