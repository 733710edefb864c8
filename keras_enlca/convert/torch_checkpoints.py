"""Convert the authors' PyTorch checkpoints into models of this library.

Supported: EDSR (EDSR-PyTorch and the ENLCA/NLSN forks), NLSN
(HarukiYqM/Non-Local-Sparse-Attention), ENLCN (Zj-BinXia/ENLCA) and A2N /
A2N-M (haoyuc/A2N). The converted model is an ordinary `EDSR`, `NLSN`,
`ENLCN` or `A2N` of `keras_enlca.models`: float32 RGB in [0, 1] in and out,
whatever range the checkpoint was trained in. What differs between the
families (keys, sizes, which tensor goes where) is in each family's
`CheckpointLayout` (`checkpoint_layouts.CHECKPOINT_LAYOUTS`).
"""

import os

import numpy as np

from keras_enlca.convert.checkpoint import read_checkpoint
from keras_enlca.convert.checkpoint import state_dict_to_numpy
from keras_enlca.convert.checkpoint_layouts import ARCHITECTURES
from keras_enlca.convert.checkpoint_layouts import get_layout
from keras_enlca.convert.layout import check_state_dict
from keras_enlca.convert.layout import describe
from keras_enlca.convert.layout import infer_hyperparameters
from keras_enlca.convert.layout import layout_from_hyperparameters
from keras_enlca.convert.layout import network_names
from keras_enlca.convert.output import check_model_output
from keras_enlca.errors import InputError
from keras_enlca.models.parameter_count import count_weights
from keras_enlca.models.registry import family_of
from keras_enlca.models.registry import get_family
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.outputs import check_writable


def model_arguments(hparams, res_scale=None):
    """Constructor arguments of the Keras network for a checkpoint's sizes."""
    return get_layout(hparams["arch"]).model_arguments(hparams, res_scale)


def architecture_of(model):
    """The reference architecture name of a Keras network of this library."""
    family = family_of(model)
    if family is None or family.name not in ARCHITECTURES:
        raise InputError(
            f"Cannot load a PyTorch checkpoint into {type(model).__name__}; "
            f"expected an {network_names()} model of keras_enlca.models."
        )
    return family.name


def _model_mismatches(model, arch, hparams):
    """Differences between a model's configuration and a checkpoint's sizes."""
    expected = model_arguments(hparams, res_scale=getattr(model, "res_scale", None))
    config = model.get_config()
    mismatches = []
    for key, value in expected.items():
        if key == "res_scale":
            continue
        actual = model.scale if key == "scale" else config.get(key)
        if actual is not None and float(actual) != float(value):
            mismatches.append(f"{key}={actual} (checkpoint: {value})")
    return mismatches + get_layout(arch).extra_mismatches(config)


def load_torch_state_dict(model, state_dict, source="state_dict"):
    """Load a reference PyTorch state_dict into a Keras network in place.

    The state_dict is checked against the layout of the model's reference
    network first (missing, unexpected and mis-shaped keys are listed in the
    error), then every tensor is converted and assigned: conv weights
    `(O, I, kh, kw)` -> `(kh, kw, I, O)`, linear weights transposed, the
    convs feeding a PixelShuffle channel-permuted for `depth_to_space`,
    MeanShift kernels and biases and the ENLCA projection matrices copied as
    they are. NLSN has no buffers: its stored rotations are kept.

    Args:
        model: an `EDSR`, `NLSN`, `ENLCN` or `A2N` built with the
            checkpoint's sizes (see `convert_checkpoint`, which builds it).
        state_dict: a mapping of key to `torch.Tensor` or NumPy array, e.g.
            from `read_checkpoint` or `torch_module.state_dict()`.
        source: name of the state_dict in error messages.

    Returns:
        The `model`.

    Raises:
        InputError: the state_dict does not fit the model.

    Example:

    ```python
    model = keras_enlca.models.ENLCN(scale=4)
    load_torch_state_dict(model, torch.load("ENLCAx4.pt", weights_only=True))
    ```
    """
    arch = architecture_of(model)
    state_dict = state_dict_to_numpy(state_dict)
    hparams = infer_hyperparameters(state_dict, arch, model.scale, source=source)
    check_state_dict(
        state_dict, layout_from_hyperparameters(hparams), source, describe(hparams)
    )
    mismatches = _model_mismatches(model, arch, hparams)
    if mismatches:
        raise InputError(
            f"{source} ({describe(hparams)}) does not fit the model: "
            + ", ".join(mismatches)
            + "."
        )
    pairs = get_layout(arch).assignments(model, state_dict, hparams)
    loaded = {key for key, _, _ in pairs}
    unused = [key for key in state_dict if key not in loaded]
    if unused or len(loaded) != len(pairs):
        raise RuntimeError(f"Converter mapping is incomplete; unused keys: {unused}")
    for key, variable, value in pairs:
        value = np.asarray(value, dtype="float32")
        if tuple(variable.shape) != value.shape:
            raise InputError(
                f"{source}: {key} converts to shape {value.shape} but the model's "
                f"{variable.path} has shape {tuple(variable.shape)}."
            )
        variable.assign(value)
    return model


def build_model(hparams, res_scale=None, **overrides):
    """Build the (untrained) Keras network for `infer_hyperparameters` output.

    Args:
        hparams: the dict returned by `infer_hyperparameters`.
        res_scale: residual scaling (EDSR family); defaults to the reference
            value (`edsr_family_layout.default_res_scale`).
        **overrides: other constructor arguments of the network class (e.g.
            `n_hashes`, `chunk_size` for NLSN).
    """
    kwargs = model_arguments(hparams, res_scale)
    kwargs.update(overrides)
    return get_family(hparams["arch"]).model_class(**kwargs)


def convert_checkpoint(
    path, arch, scale=None, output=None, res_scale=None, overwrite=False, **overrides
):
    """Convert an authors' PyTorch checkpoint into a Keras network.

    Reads the file safely (`torch.load(..., weights_only=True)`, zip or
    legacy format, bare or nested state_dict), reads the sizes from the
    tensor shapes (blocks, features, scale, A2N vs A2N-M, the `rgb_range`
    from the MeanShift bias), checks every key and shape against the
    reference layout, builds the network and loads the weights.

    The result is an ordinary model of this library: it takes and returns
    float32 RGB in [0, 1] (the training range, 1 or 255, is internal), and
    evaluates, fine-tunes and exports like any other.

    Args:
        path: the `.pt`/`.pth` checkpoint.
        arch: `"edsr"`, `"nlsn"`, `"enlcn"`, `"a2n"` or `"a2n-m"`.
        scale: 2, 3 or 4. Checked against the checkpoint; may be omitted
            except for A2N x2/x3, which share one layout.
        output: optional `.keras` path; the model is saved there atomically.
        res_scale: residual scaling of the EDSR family, which a checkpoint
            does not store (default: 0.1 for NLSN, ENLCN and the 256-feature
            EDSR, 1.0 for smaller EDSR).
        overwrite: replace an existing `output` file; otherwise an existing
            one is an error, found before the checkpoint is read.
        **overrides: other constructor arguments of the network.

    Returns:
        The converted `keras_enlca.models` network.

    Raises:
        InputError: unreadable file, wrong `arch` or `scale`, or keys that do
            not match the reference layout (listed in the message); an
            `output` that exists or cannot be written (`OutputError`, nothing
            left behind).

    Example:

    ```python
    model = convert_checkpoint("aan_x2.pt", "a2n", scale=2, output="a2n_x2.keras")
    sr = model.predict(lr_batch)  # [0, 1] in, [0, 1] out
    ```
    """
    arch = str(arch).lower().replace("_", "-")
    if output is not None:
        output = check_model_output(output, checkpoint=path, overwrite=overwrite)
    state_dict = read_checkpoint(path)
    source = os.fspath(path)
    hparams = infer_hyperparameters(state_dict, arch, scale, source=source)
    check_state_dict(
        state_dict, layout_from_hyperparameters(hparams), source, describe(hparams)
    )
    model = build_model(hparams, res_scale=res_scale, **overrides)
    load_torch_state_dict(model, state_dict, source=source)
    if output is not None:
        check_writable(output, needed_bytes=4 * count_weights(model))
        with atomic_path(output) as tmp:
            model.save(tmp)
    return model
