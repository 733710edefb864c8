"""Convert the authors' PyTorch checkpoints into models of this library.

Supported: EDSR (EDSR-PyTorch and the ENLCA/NLSN forks), NLSN
(HarukiYqM/Non-Local-Sparse-Attention), ENLCN (Zj-BinXia/ENLCA) and A2N /
A2N-M (haoyuc/A2N). The converted model is an ordinary `EDSR`, `NLSN`,
`ENLCN` or `A2N` of `keras_enlca.models`: float32 RGB in [0, 1] in and out,
whatever range the checkpoint was trained in.
"""

import os

import numpy as np

from keras_enlca.convert.checkpoint import read_checkpoint
from keras_enlca.convert.checkpoint import state_dict_to_numpy
from keras_enlca.convert.layout import EDSR_FAMILY
from keras_enlca.convert.layout import body_layout
from keras_enlca.convert.layout import check_state_dict
from keras_enlca.convert.layout import describe
from keras_enlca.convert.layout import infer_hyperparameters
from keras_enlca.convert.layout import layout_from_hyperparameters
from keras_enlca.convert.layout import upsampler_stages
from keras_enlca.convert.output import check_model_output
from keras_enlca.convert.weights import conv_kernel
from keras_enlca.convert.weights import dense_kernel
from keras_enlca.convert.weights import pixel_shuffle_conv
from keras_enlca.errors import InputError
from keras_enlca.models.a2n import A2N
from keras_enlca.models.edsr import EDSR
from keras_enlca.models.enlcn import ENLCN
from keras_enlca.models.nlsn import NLSN
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.outputs import check_writable


def default_res_scale(arch, n_feats):
    """Residual scaling the reference training used (not stored in weights).

    ENLCN and NLSN are trained with `--res_scale 0.1`; EDSR uses 0.1 for the
    paper model (256 features) and 1.0 for the baseline (64 features).
    """
    if arch in ("nlsn", "enlcn"):
        return 0.1
    return 0.1 if n_feats >= 256 else 1.0


def model_arguments(hparams, res_scale=None):
    """Constructor arguments of the Keras network for a checkpoint's sizes."""
    arch = hparams["arch"]
    if arch in EDSR_FAMILY:
        if res_scale is None:
            res_scale = default_res_scale(arch, hparams["n_feats"])
        kwargs = {
            "scale": hparams["scale"],
            "num_blocks": hparams["n_resblocks"],
            "filters": hparams["n_feats"],
            "res_scale": float(res_scale),
            "rgb_range": float(hparams["rgb_range"]),
        }
        if arch == "enlcn":
            kwargs["attention_reduction"] = hparams["reduction"]
            kwargs["num_random_features"] = hparams["num_random_features"]
        elif arch == "nlsn":
            kwargs["attention_reduction"] = hparams["reduction"]
        return kwargs
    if res_scale is not None:
        raise InputError("--res-scale applies to EDSR, NLSN and ENLCN, not to A2N.")
    return {
        "scale": hparams["scale"],
        "num_blocks": hparams["num_blocks"],
        "filters": hparams["features"],
        "upsample_filters": hparams["upsample_features"],
        "reduction": hparams["adm_reduction"],
        "non_attention_kernel_size": hparams["non_attention_kernel_size"],
    }


MODEL_CLASSES = {"edsr": EDSR, "nlsn": NLSN, "enlcn": ENLCN, "a2n": A2N, "a2n-m": A2N}


def architecture_of(model):
    """The reference architecture name of a Keras network of this library."""
    # ENLCN and NLSN are not EDSR subclasses, but test the specific ones first.
    for arch, cls in (("enlcn", ENLCN), ("nlsn", NLSN), ("edsr", EDSR)):
        if isinstance(model, cls):
            return arch
    if isinstance(model, A2N):
        return "a2n-m" if model.non_attention_kernel_size == 1 else "a2n"
    raise InputError(
        f"Cannot load a PyTorch checkpoint into {type(model).__name__}; expected "
        "an EDSR, NLSN, ENLCN or A2N model of keras_enlca.models."
    )


def _conv_pairs(layer, state_dict, prefix, use_bias=True):
    pairs = [
        (f"{prefix}.weight", layer.kernel, conv_kernel(state_dict[f"{prefix}.weight"]))
    ]
    if use_bias:
        pairs.append((f"{prefix}.bias", layer.bias, state_dict[f"{prefix}.bias"]))
    return pairs


def _edsr_family_assignments(model, arch, state_dict, hparams):
    sd = state_dict
    pairs = []
    for name in ("sub_mean", "add_mean"):
        layer = model.get_layer(name)
        pairs += _conv_pairs(layer, sd, name)
    pairs += _conv_pairs(model.get_layer("head"), sd, "head.0")
    for index, kind in body_layout(hparams["n_resblocks"], arch != "edsr"):
        prefix = f"body.{index}"
        if kind == "conv":
            pairs += _conv_pairs(model.get_layer("body_conv"), sd, prefix)
            continue
        layer = model.get_layer(f"body_{index}")
        if kind == "resblock":
            pairs += _conv_pairs(layer.conv1, sd, f"{prefix}.body.0")
            pairs += _conv_pairs(layer.conv2, sd, f"{prefix}.body.2")
        elif arch == "enlcn":
            pairs += _conv_pairs(layer.query_embedding, sd, f"{prefix}.conv_match1.0")
            pairs += _conv_pairs(layer.key_embedding, sd, f"{prefix}.conv_match2.0")
            pairs += _conv_pairs(layer.value_embedding, sd, f"{prefix}.conv_assembly.0")
            key = f"{prefix}.attn_fn.projection_matrix"
            # Same (num_random_features, embedding) layout as the buffer.
            pairs.append((key, layer.projection_matrix, sd[key]))
        else:
            pairs += _conv_pairs(layer.match_embedding, sd, f"{prefix}.conv_match.0")
            pairs += _conv_pairs(
                layer.assembly_embedding, sd, f"{prefix}.conv_assembly.0"
            )
    upsampler = model.get_layer("upsampler")
    for conv, (conv_index, factor) in zip(
        upsampler.convs, upsampler_stages(hparams["scale"])
    ):
        prefix = f"tail.0.{conv_index}"
        kernel, bias = pixel_shuffle_conv(
            sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], factor
        )
        pairs.append((f"{prefix}.weight", conv.kernel, kernel))
        pairs.append((f"{prefix}.bias", conv.bias, bias))
    pairs += _conv_pairs(model.get_layer("tail"), sd, "tail.1")
    return pairs


def _a2n_assignments(model, state_dict, hparams):
    sd = state_dict
    pairs = _conv_pairs(model.get_layer("conv_first"), sd, "conv_first")
    for i in range(hparams["num_blocks"]):
        block = model.get_layer(f"aab_{i}")
        p = f"AAB_trunk.{i}"
        pairs += _conv_pairs(block.conv_first, sd, f"{p}.conv_first", use_bias=False)
        pairs += _conv_pairs(block.conv_last, sd, f"{p}.conv_last", use_bias=False)
        for dense, key in (
            (block.adm_dense_1, f"{p}.ADM.0.weight"),
            (block.adm_dense_2, f"{p}.ADM.2.weight"),
        ):
            pairs.append((key, dense.kernel, dense_kernel(sd[key])))
        pairs += _conv_pairs(
            block.attention_k1, sd, f"{p}.attention.k1", use_bias=False
        )
        pairs += _conv_pairs(block.attention_k2, sd, f"{p}.attention.k2")
        pairs += _conv_pairs(
            block.attention_k3, sd, f"{p}.attention.k3", use_bias=False
        )
        pairs += _conv_pairs(
            block.attention_k4, sd, f"{p}.attention.k4", use_bias=False
        )
        pairs += _conv_pairs(
            block.non_attention, sd, f"{p}.non_attention", use_bias=False
        )
    pairs += _conv_pairs(model.get_layer("trunk_conv"), sd, "trunk_conv")
    for stage in (1, 2) if hparams["scale"] == 4 else (1,):
        pairs += _conv_pairs(model.get_layer(f"upconv{stage}"), sd, f"upconv{stage}")
        pairs += _conv_pairs(
            model.get_layer(f"att{stage}").conv, sd, f"att{stage}.conv"
        )
        pairs += _conv_pairs(model.get_layer(f"hr_conv{stage}"), sd, f"HRconv{stage}")
    pairs += _conv_pairs(model.get_layer("conv_last"), sd, "conv_last")
    return pairs


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
    if arch in ("nlsn", "enlcn") and config.get("attention_every", 8) != 8:
        mismatches.append(
            f"attention_every={config['attention_every']} (checkpoint: 8)"
        )
    return mismatches


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
    if arch in EDSR_FAMILY:
        pairs = _edsr_family_assignments(model, arch, state_dict, hparams)
    else:
        pairs = _a2n_assignments(model, state_dict, hparams)
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
            value (`default_res_scale`).
        **overrides: other constructor arguments of the network class (e.g.
            `n_hashes`, `chunk_size` for NLSN).
    """
    kwargs = model_arguments(hparams, res_scale)
    kwargs.update(overrides)
    return MODEL_CLASSES[hparams["arch"]](**kwargs)


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
        check_writable(output, needed_bytes=4 * model.count_params())
        with atomic_path(output) as tmp:
            model.save(tmp)
    return model
