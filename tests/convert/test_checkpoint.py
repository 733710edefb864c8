import collections
import sys
import zipfile

import numpy as np
import pytest
import torch

from keras_enlca.convert.checkpoint import TorchNotInstalledError
from keras_enlca.convert.checkpoint import import_torch
from keras_enlca.convert.checkpoint import read_checkpoint
from keras_enlca.convert.checkpoint import state_dict_to_numpy
from keras_enlca.errors import InputError


@pytest.fixture
def state_dict():
    generator = torch.Generator().manual_seed(0)
    return collections.OrderedDict(
        [
            ("head.0.weight", torch.randn(4, 3, 3, 3, generator=generator)),
            ("head.0.bias", torch.randn(4, generator=generator)),
            (
                "body.0.attn_fn.projection_matrix",
                torch.randn(8, 2, generator=generator),
            ),
        ]
    )


def assert_same(loaded, state_dict):
    assert list(loaded) == list(state_dict)
    for key, tensor in state_dict.items():
        assert loaded[key].dtype == np.float32
        np.testing.assert_array_equal(loaded[key], tensor.float().numpy())


@pytest.mark.parametrize("zip_format", [True, False])
def test_zip_and_legacy_formats(state_dict, tmp_path, zip_format):
    path = tmp_path / "model.pt"
    torch.save(state_dict, path, _use_new_zipfile_serialization=zip_format)
    assert zipfile.is_zipfile(path) == zip_format
    assert_same(read_checkpoint(path), state_dict)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 12},
        lambda sd: {"model": sd, "optimizer": {"lr": 1e-4}},
        lambda sd: {"params_ema": sd, "params": {k: v * 0 for k, v in sd.items()}},
        lambda sd: {"params": sd},
        lambda sd: {"state_dict": {"model": sd}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
        lambda sd: {"model_state_dict": {f"model.{k}": v for k, v in sd.items()}},
        lambda sd: dict(sd, epoch=3),
    ],
)
def test_nested_and_prefixed_state_dicts(state_dict, tmp_path, wrap):
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(state_dict), path)
    assert_same(read_checkpoint(path), state_dict)


def test_half_precision_becomes_float32(state_dict, tmp_path):
    path = tmp_path / "half.pt"
    torch.save({k: v.half() for k, v in state_dict.items()}, path)
    loaded = read_checkpoint(path)
    assert loaded["head.0.bias"].dtype == np.float32
    np.testing.assert_array_equal(
        loaded["head.0.bias"], state_dict["head.0.bias"].half().float().numpy()
    )


def test_state_dict_to_numpy_accepts_tensors_and_arrays(state_dict):
    mixed = dict(state_dict)
    mixed["tail.1.bias"] = np.arange(3, dtype=np.float64)
    converted = state_dict_to_numpy(mixed)
    assert converted["tail.1.bias"].dtype == np.float32
    np.testing.assert_array_equal(
        converted["head.0.weight"], state_dict["head.0.weight"].numpy()
    )


def test_pickled_modules_are_refused_without_running_code(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Conv2d(3, 3, 1), path)
    with pytest.raises(InputError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert message.startswith(
        f"{path}: the checkpoint pickles Python objects (torch.nn.modules.conv.Conv2d)"
    )
    assert "weights_only=True" in message and "\n" not in message


@pytest.mark.parametrize(
    "content,detail",
    [
        (b"this is a text file, not weights\n", "not a PyTorch checkpoint"),
        (b"", "not a PyTorch checkpoint (EOFError)"),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", "not a PyTorch checkpoint"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path, content, detail):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_checkpoint(path)
    assert str(info.value).startswith(f"{path}: {detail}")
    assert "\n" not in str(info.value)


def test_zip_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(
        InputError, match=r"archive.pt: not a PyTorch checkpoint \(RuntimeError"
    ):
        read_checkpoint(path)


def test_checkpoints_without_a_state_dict(tmp_path):
    path = tmp_path / "numbers.pt"
    torch.save({"epoch": 3, "config": {"lr": 0.1}}, path)
    with pytest.raises(
        InputError,
        match=(
            r"numbers.pt: no state_dict found in the checkpoint \(top-level keys: "
            r"'epoch', 'config'"
        ),
    ):
        read_checkpoint(path)
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(
        InputError, match=r"tensor.pt: the checkpoint holds a Tensor, not a state_dict"
    ):
        read_checkpoint(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"nope.pt: no such checkpoint file"):
        read_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(
        InputError, match=r"is a folder, expected a PyTorch checkpoint file"
    ):
        read_checkpoint(tmp_path)


def test_missing_torch_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails.
    with pytest.raises(TorchNotInstalledError) as info:
        import_torch()
    assert "pip install keras-enlca[torch]" in str(info.value)
    assert isinstance(info.value, InputError) and isinstance(info.value, ImportError)
