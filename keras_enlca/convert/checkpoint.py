"""Read PyTorch checkpoint files into plain dicts of NumPy arrays.

PyTorch is imported only here and only when a checkpoint is read, so the rest
of the library (and `enlca --help`) never needs it.
"""

import os
import pickle
import re

import numpy as np

from keras_enlca.errors import InputError

TORCH_INSTALL_HINT = "pip install keras-enlca[torch]"

# Keys under which training scripts nest the weights, in order of preference.
# EDSR-PyTorch, ENLCA, NLSN and A2N save a bare state_dict; the others are the
# usual wrappers (Lightning / generic `state_dict`, BasicSR `params_ema` and
# `params`, ...).
NESTED_STATE_DICT_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "params_ema",
    "params",
    "net",
    "network",
    "generator",
)

# Prefixes added by wrappers (`nn.DataParallel`, the EDSR-PyTorch `Model`
# wrapper, `torch.compile`) and removed when every key carries them.
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")


class TorchNotInstalledError(InputError, ImportError):
    """PyTorch is needed to read a checkpoint and is not installed."""


def import_torch():
    """Import and return `torch`, or raise a one-line install hint.

    Raises:
        TorchNotInstalledError: when PyTorch is not installed (an
            `InputError` and an `ImportError`).
    """
    try:
        import torch
    except ImportError:
        raise TorchNotInstalledError(
            "Reading PyTorch checkpoints needs PyTorch, which is not "
            f"installed: `{TORCH_INSTALL_HINT}` (the CPU build is enough)."
        ) from None
    return torch


def _load_error(path, error):
    """Turn a `torch.load` failure into a one-line `InputError`."""
    text = str(error)
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if match:
        return InputError(
            f"{path}: the checkpoint pickles Python objects ({match.group(1)}) "
            "besides tensors, and torch.load(weights_only=True) does not run "
            "them; in a trusted PyTorch session, load it and re-save "
            "model.state_dict()."
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    if isinstance(error, pickle.UnpicklingError) or "Weights only" in first:
        first = ""
    detail = type(error).__name__ + (f": {first}" if first else "")
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return InputError(f"{path}: not a PyTorch checkpoint ({detail}).")


def _is_tensor_dict(torch, value):
    return (
        isinstance(value, dict)
        and len(value) > 0
        and all(isinstance(k, str) for k in value)
        and all(isinstance(v, torch.Tensor) for v in value.values())
    )


def _unwrap(torch, obj, path):
    """Find the state_dict inside whatever `torch.load` returned."""
    seen = []
    while True:
        if _is_tensor_dict(torch, obj):
            return obj
        if not isinstance(obj, dict):
            raise InputError(
                f"{path}: the checkpoint holds a {type(obj).__name__}, not a "
                "state_dict (a dict of tensor names to tensors)."
            )
        for key in NESTED_STATE_DICT_KEYS:
            if key in obj and isinstance(obj[key], dict):
                seen.append(key)
                obj = obj[key]
                break
        else:
            # Tolerate non-tensor extras (e.g. an `epoch` counter) beside the
            # tensors when no nested state_dict is found.
            tensors = {
                k: v
                for k, v in obj.items()
                if isinstance(k, str) and isinstance(v, torch.Tensor)
            }
            if tensors:
                return tensors
            where = "".join(f"[{k!r}]" for k in seen)
            keys = ", ".join(repr(k) for k in list(obj)[:8])
            raise InputError(
                f"{path}: no state_dict found in the checkpoint{where} "
                f"(top-level keys: {keys or 'none'}; expected tensors or one "
                f"of {', '.join(NESTED_STATE_DICT_KEYS)})."
            )


def _strip_wrapper_prefixes(state_dict):
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in state_dict):
                state_dict = {key[len(prefix) :]: v for key, v in state_dict.items()}
                changed = True
    return state_dict


def _to_numpy(torch, tensor):
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        return tensor.to(torch.float32).numpy()
    return tensor.numpy()


def state_dict_to_numpy(state_dict):
    """Convert a dict of torch tensors (or arrays) to a dict of NumPy arrays.

    Floating-point tensors (float16, bfloat16, float64) become float32.
    Wrapper prefixes shared by every key (`module.`, `model.`,
    `_orig_mod.`) are removed.

    Args:
        state_dict: a mapping of parameter names to `torch.Tensor` or
            array-like values.

    Returns:
        A dict of the same names (insertion order kept) to NumPy arrays.
    """
    out = {}
    torch = None
    for key, value in state_dict.items():
        if not isinstance(value, np.ndarray) and type(value).__module__.startswith(
            "torch"
        ):
            torch = torch or import_torch()
            value = _to_numpy(torch, value)
        else:
            value = np.asarray(value)
            if np.issubdtype(value.dtype, np.floating):
                value = value.astype(np.float32)
        out[str(key)] = value
    return _strip_wrapper_prefixes(out)


def read_checkpoint(path):
    """Read a PyTorch checkpoint file into a dict of NumPy arrays.

    The file is read with `torch.load(..., weights_only=True)`, so no code
    stored in it runs. Both the zip format (PyTorch >= 1.6) and the legacy
    format (e.g. the A2N `aan_x2.pt`) are accepted. The state_dict may be the
    whole file or nested under a key such as `state_dict`, `model`,
    `params_ema` or `params`; `module.`-style wrapper prefixes are removed.

    Args:
        path: path of the `.pt`/`.pth` file.

    Returns:
        A dict of parameter names to float32 (or integer) NumPy arrays, in
        the order stored in the file.

    Raises:
        InputError: the file is missing, is not a PyTorch checkpoint, holds
            pickled Python objects that `weights_only` refuses, or holds no
            state_dict.
        TorchNotInstalledError: PyTorch is not installed.

    Example:

    ```python
    state_dict = read_checkpoint("aan_x2.pt")
    state_dict["conv_first.weight"].shape  # (40, 3, 3, 3)
    ```
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such checkpoint file.")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, expected a PyTorch checkpoint file.")
    torch = import_torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds here
        raise _load_error(path, error) from None
    return state_dict_to_numpy(_unwrap(torch, obj, path))
