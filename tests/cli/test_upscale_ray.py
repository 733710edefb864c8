"""`enlca upscale --ray`: bad input is one line, before any work (no cluster)."""

import importlib.util
import os
import socket
import sys
import threading

import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.cli.upscale_ray import summary_line
from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import write_image
from tests.inference.ray_cluster import free_port

MODEL = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "runtime", "data", "a2n_tiny_x2.tflite"
)


needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed"
)


def run(*args):
    return CliRunner().invoke(cli, ["upscale", *map(str, args)])


@pytest.fixture
def photos(tmp_path):
    photo = read_image(sample_image_paths()[3])
    write_image(tmp_path / "photos" / "a.png", photo[:20, :30])
    return tmp_path / "photos"


def one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_without_ray_installed(photos, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails
    line = one_line_error(run(MODEL, photos, "-o", tmp_path / "out", "--ray"))
    assert line == (
        "Error: --ray needs Ray, which this install lacks (no module named 'ray'); "
        "install it with pip install 'keras-enlca[ray]'."
    )
    assert not (tmp_path / "out").exists()


@needs_ray
def test_an_address_where_nothing_listens(photos, tmp_path):
    port = free_port()
    line = one_line_error(
        run(MODEL, photos, "-o", tmp_path / "out", f"--ray=127.0.0.1:{port}")
    )
    assert line == (
        f"Error: --ray 127.0.0.1:{port}: no Ray cluster answers there (Connection "
        "refused); start one with `ray start --head` on that host, or check the "
        "address."
    )
    assert not (tmp_path / "out").exists()


@needs_ray
def test_an_address_where_something_else_listens(photos, tmp_path, monkeypatch):
    import keras_enlca.inference.ray_upscale as ray_upscale

    monkeypatch.setattr(ray_upscale, "CONNECT_TIMEOUT_S", 1)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(
        target=lambda: accepted.append(server.accept()), daemon=True
    ).start()
    try:
        line = one_line_error(
            run(MODEL, photos, "-o", tmp_path / "out", f"--ray=127.0.0.1:{port}")
        )
    finally:
        server.close()
    assert line == (
        f"Error: --ray 127.0.0.1:{port}: something answers there, but not a Ray "
        "cluster (no gRPC reply in 1 s); give the address `ray start --head` printed "
        "(its port, 6379 by default)."
    )


@needs_ray
def test_a_model_path_taken_for_the_address(photos, tmp_path):
    # `enlca upscale --ray x2.tflite photos/ more.png -o out/`
    line = one_line_error(
        run("--ray", MODEL, photos, photos / "a.png", "-o", tmp_path / "out")
    )
    assert line == (
        f"Error: --ray {MODEL}: not a Ray address (HOST:PORT, ray://HOST:PORT, auto "
        "or local). Write --ray=ADDRESS, or put a bare --ray after the inputs."
    )


@needs_ray
def test_an_output_folder_inside_the_input_folder(photos):
    line = one_line_error(run(MODEL, photos, "-o", photos / "out", "--ray"))
    assert line == (
        f"Error: -o {photos / 'out'}: is inside the input folder {photos}; a re-run "
        "would take the outputs for inputs. Choose an output folder outside it."
    )
    assert sorted(os.listdir(photos)) == ["a.png"]


def test_ray_options_need_ray(photos, tmp_path):
    result = run(MODEL, photos, "-o", tmp_path / "out", "--num-workers", 2)
    assert result.exit_code == 2
    assert (
        "--num-workers, --threads-per-worker and --batch-size need --ray."
        in result.output
    )


def test_summary_line():
    report = {
        "total": 5,
        "done_before": 1,
        "written": 2,
        "verified": 1,
        "failed": [("x.png", "broken")],
        "failure_list": "out/enlca-upscale-failures.txt",
        "scale": 2,
        "workers": 3,
        "images_per_s": 1.234,
    }
    assert summary_line(report, "out") == (
        "Upscaled 4 of 5 images x2 into out (2 new at 1.23 images/s on 3 Ray "
        "workers; 2 complete from an earlier run); 1 failed, listed in "
        "out/enlca-upscale-failures.txt"
    )
