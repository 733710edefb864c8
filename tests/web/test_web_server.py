"""`enlca web`'s server: loopback, isolation headers, only its own files."""

import http.client
import json
import os
import threading

import pytest
from click.testing import CliRunner

from keras_enlca.cli.main import cli
from keras_enlca.web.litertjs import CORE_PACKAGE
from keras_enlca.web.litertjs import LITERTJS_VERSION
from keras_enlca.web.litertjs import UTILS_PACKAGE
from keras_enlca.web.litertjs import find_litertjs
from keras_enlca.web.web_server import STATIC_DIR
from keras_enlca.web.web_server import WebServer

TFLITE_HEAD = b"\x1c\x00\x00\x00TFL3" + bytes(24)


def fake_litertjs(root):
    """A folder shaped like `npm install --prefix root @litertjs/core`."""
    files = {
        f"node_modules/{CORE_PACKAGE}/package.json": json.dumps(
            {"name": CORE_PACKAGE, "version": LITERTJS_VERSION}
        ),
        f"node_modules/{CORE_PACKAGE}/dist/index.js": "export const core = 1;",
        f"node_modules/{CORE_PACKAGE}/wasm/litert_wasm_internal.js": "// wasm js",
        f"node_modules/{CORE_PACKAGE}/wasm/litert_wasm_internal.wasm": "\0asm",
        f"node_modules/{UTILS_PACKAGE}/package.json": json.dumps(
            {"name": UTILS_PACKAGE, "version": LITERTJS_VERSION}
        ),
        f"node_modules/{UTILS_PACKAGE}/dist/index.js": "export const utils = 1;",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def served(tmp_path):
    """A running server with a fake LiteRT.js, one model and a secret beside it."""
    litertjs = fake_litertjs(tmp_path / "litertjs")
    models = tmp_path / "models"
    models.mkdir()
    model = models / "tiny.tflite"
    model.write_bytes(TFLITE_HEAD)
    (models / "secret.tflite").write_bytes(TFLITE_HEAD)
    (tmp_path / "secret.txt").write_text("not for the browser")
    server = WebServer([model], port=0, litertjs=litertjs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, tmp_path
    server.shutdown()
    server.server_close()


def request(server, path, method="GET"):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_binds_to_loopback_by_default(served):
    server, _ = served
    assert server.server_address[0] == "127.0.0.1"
    assert server.loopback_only
    assert server.url.startswith("http://127.0.0.1:")


def test_page_has_isolation_and_content_security_headers(served):
    server, _ = served
    status, headers, body = request(server, "/")
    assert status == 200
    assert b'<script type="module" src="/static/app.js">' in body
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self' blob: data:" in csp
    assert "'sha256-" in csp  # the import map, and no 'unsafe-inline'
    assert "unsafe-inline" not in csp


def test_serves_its_assets_litertjs_and_the_given_models(served):
    server, _ = served
    for path, content_type in (
        ("/static/tiler.js", "text/javascript; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/litertjs/core/dist/index.js", "text/javascript; charset=utf-8"),
        ("/litertjs/core/wasm/litert_wasm_internal.wasm", "application/wasm"),
        ("/litertjs/wasm-utils/dist/index.js", "text/javascript; charset=utf-8"),
        ("/models/0/tiny.tflite", "application/octet-stream"),
    ):
        status, headers, _ = request(server, path)
        assert (status, headers["Content-Type"]) == (200, content_type), path
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    status, headers, body = request(server, "/config.json")
    config = json.loads(body)
    assert config["litertjs"]["version"] == LITERTJS_VERSION
    assert [m["name"] for m in config["models"]] == ["tiny.tflite"]
    assert config["models"][0]["bytes"] == len(TFLITE_HEAD)
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../web_server.py",
        "/static/%2e%2e/web_server.py",
        "/static/%2E%2E%2Fweb_server.py",
        "/static/..%2fweb_server.py",
        "/static/%252e%252e/web_server.py",
        "/static/..%5cweb_server.py",
        "/static/.%2fapp.js",
        "/static//app.js",
        "/static/app.js%00.png",
        "/static/%ff%fe",
        "/litertjs/core/../../../../secret.txt",
        "/litertjs/core/dist/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/litertjs/core/package.json",
        "/litertjs/other/dist/index.js",
        "/models/0/../../secret.txt",
        "/models/0/secret.tflite",
        "/models/1/secret.tflite",
        "/models/-1/tiny.tflite",
        "/models/0/%2e%2e%2fsecret.tflite",
        "/etc/passwd",
        "/../../etc/passwd",
        "//etc/passwd",
    ],
)
def test_refuses_paths_outside_its_files(served, path):
    server, _ = served
    status, _, body = request(server, path)
    assert status == 404, path
    assert b"not for the browser" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/static/",
        "/static",
        "/litertjs/core/wasm/",
        "/litertjs/core/dist",
        "/models/0/",
    ],
)
def test_lists_no_folder(served, path):
    server, _ = served
    status, _, body = request(server, path)
    assert status == 404
    assert b"tiler.js" not in body and b"index.js" not in body


def test_refuses_symlinks_out_of_its_folders(served):
    server, tmp_path = served
    wasm = server.litertjs["core"] / "wasm"
    os.symlink(tmp_path / "secret.txt", wasm / "escape.js")
    os.symlink(tmp_path, wasm / "up")
    os.symlink(wasm / "litert_wasm_internal.js", wasm / "inside.js")
    assert request(server, "/litertjs/core/wasm/escape.js")[0] == 404
    assert request(server, "/litertjs/core/wasm/up/secret.txt")[0] == 404
    # A link that stays inside the folder is an ordinary file.
    assert request(server, "/litertjs/core/wasm/inside.js")[:1] == (200,)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_and_head(served, method):
    server, _ = served
    assert request(server, "/", method)[0] == 405
    status, headers, body = request(server, "/static/tiler.js", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


def test_missing_litertjs_is_reported_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ENLCA_LITERTJS", raising=False)
    monkeypatch.chdir(tmp_path)
    found, problem = find_litertjs()
    assert found is None
    assert f"npm install --prefix {tmp_path / 'cache'}" in problem
    assert f"@litertjs/core@{LITERTJS_VERSION}" in problem
    server = WebServer([], port=0)
    try:
        config = server.page_config()
        assert config["litertjs"] is None
        assert config["litertjs_problem"] == problem
        # Every LiteRT.js path goes through `resolve`: nothing to serve.
        assert server.resolve("/litertjs/core/dist/index.js") is None
    finally:
        server.server_close()


def test_finds_litertjs_from_the_environment_and_reports_an_incomplete_install(
    tmp_path, monkeypatch
):
    root = fake_litertjs(tmp_path / "npm")
    monkeypatch.setenv("ENLCA_LITERTJS", str(root))
    found, problem = find_litertjs()
    assert problem is None and found["version"] == LITERTJS_VERSION
    (root / "node_modules" / UTILS_PACKAGE / "dist" / "index.js").unlink()
    found, problem = find_litertjs()
    assert found is None
    assert problem.startswith(f"LiteRT.js in {root} is incomplete (missing ")
    assert f"{UTILS_PACKAGE}/dist/index.js" in problem


def test_static_assets_are_package_data():
    assert {p.name for p in STATIC_DIR.iterdir()} >= {
        "index.html",
        "app.js",
        "tiler.js",
        "style.css",
    }
    with open(STATIC_DIR.parents[2] / "setup.cfg", encoding="utf-8") as f:
        assert "keras_enlca.web = static/*.html, static/*.js, static/*.css" in f.read()


def test_cli_refuses_bad_models_in_one_line(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(cli, ["web", str(tmp_path / "nope.tflite"), "--port", "0"])
    assert missing.exit_code == 1
    assert (
        missing.output.strip()
        == f"Error: {tmp_path / 'nope.tflite'}: no such model file."
    )
    text = tmp_path / "photo.tflite"
    text.write_text("hello")
    wrong = runner.invoke(cli, ["web", str(text), "--port", "0"])
    assert wrong.exit_code == 1
    assert "not a TFLite model" in wrong.output and len(wrong.output.splitlines()) == 1
    assert "Traceback" not in wrong.output


def test_cli_help_lists_the_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "web  " in result.output
    result = CliRunner().invoke(cli, ["web", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "127.0.0.1" in result.output
