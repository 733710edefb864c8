"""`enlca web`'s HTTP server: the page, its tiler, LiteRT.js and the models.

A small `http.server` that serves exactly three kinds of files, each from its
own folder and nothing else: the page's assets (`static/`), the LiteRT.js
package files (`dist/` and `wasm/` of `@litertjs/core`, `dist/` of
`@litertjs/wasm-utils`) and the `.tflite` models named on the command line.
Paths are decoded once and refused when they hold `..`, `.`, empty segments,
backslashes or NUL, and when their real path (symlinks followed) leaves the
folder; folders are never listed. Every response carries the cross-origin
isolation headers WASM threads need (COOP same-origin, COEP require-corp) and
a Content-Security-Policy that lets the page talk to this server only.
"""

import base64
import hashlib
import http.server
import json
import os
import pathlib
import re
import socket
import socketserver
import urllib.parse

from keras_enlca.errors import InputError
from keras_enlca.web.litertjs import LITERTJS_VERSION
from keras_enlca.web.litertjs import find_litertjs
from keras_enlca.web.litertjs import install_command

STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# What the page may hold for one image (decoded input, output, tile band),
# in MiB; beyond it an image is refused with a message before any work.
DEFAULT_MEMORY_BUDGET_MB = 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".tflite": "application/octet-stream",
    ".map": "application/json",
}
# Top-level folders of each LiteRT.js package that the page may load.
LITERTJS_SERVED = {"core": ("dist", "wasm"), "wasm-utils": ("dist",)}


def _inline_script_hashes(html):
    """CSP hashes of the page's inline scripts (its import map)."""
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
    return [
        "'sha256-"
        + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode()
        + "'"
        for s in scripts
        if s.strip()
    ]


def content_security_policy(html):
    """The page may load and fetch only from this server (and its own blobs)."""
    scripts = " ".join(["'self'", "'wasm-unsafe-eval'"] + _inline_script_hashes(html))
    return (
        f"default-src 'self'; script-src {scripts}; worker-src 'self' blob:; "
        "img-src 'self' blob: data:; connect-src 'self' blob: data:; "
        "style-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def safe_file(root, relative):
    """`root/relative` as a real path inside `root`, or None.

    `relative` is an already-decoded URL path below `root`. Refused: empty,
    `.` or `..` segments, backslashes, NUL, a real path (symlinks followed)
    outside `root`, anything that is not a regular file (folders: no listing).
    """
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    root_real = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root_real, *parts))
    if os.path.commonpath([root_real, real]) != root_real:
        return None
    return real if os.path.isfile(real) else None


def _model_entry(index, path):
    from keras_enlca.inference.metadata import read_artifact_metadata

    try:
        metadata = read_artifact_metadata(path) or {}
    except (InputError, OSError, ValueError):
        metadata = {}
    keep = ("network", "scale", "quantize", "preset", "tile", "target")
    return {
        "name": os.path.basename(path),
        "url": f"/models/{index}/{urllib.parse.quote(os.path.basename(path))}",
        "bytes": os.path.getsize(path),
        "metadata": {k: metadata[k] for k in keep if k in metadata},
    }


def check_models(paths):
    """Absolute paths of the `.tflite` models to serve; a bad one is an error."""
    checked = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such model file.")
        with open(path, "rb") as f:
            head = f.read(8)
        if head[4:8] != b"TFL3":
            raise InputError(
                f"{path}: not a TFLite model (enlca web serves .tflite exports; "
                "make one with `enlca export MODEL.keras --target web -o "
                "MODEL.tflite`)."
            )
        checked.append(os.path.abspath(path))
    return checked


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "enlca-web"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - http.server's name
        if self.server.verbose:
            super().log_message(format, *args)

    def do_HEAD(self):  # noqa: N802 - http.server's name
        self._serve(head=True)

    def do_GET(self):  # noqa: N802 - http.server's name
        self._serve(head=False)

    def _refuse(self):
        self.send_error(405, "Only GET and HEAD")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", self.server.csp)
        super().end_headers()

    def _serve(self, head):
        raw = urllib.parse.urlsplit(self.path).path
        try:
            path = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return self.send_error(404, "Not found")
        if path in ("/", "/index.html"):
            return self._send_bytes(self.server.index_html, ".html", head)
        if path == "/config.json":
            body = json.dumps(self.server.page_config()).encode("utf-8")
            return self._send_bytes(body, ".json", head, cache=False)
        found = self.server.resolve(path)
        if found is None:
            return self.send_error(404, "Not found")
        with open(found, "rb") as f:
            body = f.read()
        return self._send_bytes(body, os.path.splitext(found)[1], head)

    def _send_bytes(self, body, suffix, head, cache=True):
        self.send_response(200)
        self.send_header(
            "Content-Type", CONTENT_TYPES.get(suffix, "application/octet-stream")
        )
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache" if cache else "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)


class WebServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Serves the browser upscaler page, LiteRT.js and the given models.

    Args:
        models: `.tflite` paths offered in the page's model menu.
        host: address to bind; loopback unless the user asks otherwise.
        port: TCP port (0 picks a free one; see `url`).
        litertjs: folder holding `node_modules/@litertjs/...` (None: search
            `keras_enlca.web.litertjs.candidate_dirs`).
        memory_budget_mb: the most one image may take in the page.
        verbose: log every request on stderr.

    Example:

    ```python
    server = WebServer(["enlcn_x2_128.tflite"], port=0)
    print(server.url)  # http://127.0.0.1:<port>/
    server.serve_forever()
    ```
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        models=(),
        host=DEFAULT_HOST,
        port=DEFAULT_PORT,
        litertjs=None,
        memory_budget_mb=DEFAULT_MEMORY_BUDGET_MB,
        verbose=False,
    ):
        self.models = check_models(models)
        self.memory_budget_mb = int(memory_budget_mb)
        if self.memory_budget_mb < 1:
            raise InputError(
                f"--memory-budget {memory_budget_mb}: must be at least 1 MiB."
            )
        self.verbose = bool(verbose)
        self.litertjs, self.litertjs_problem = find_litertjs(litertjs)
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        self.index_html = html.encode("utf-8")
        self.csp = content_security_policy(html)
        self._model_entries = [_model_entry(i, p) for i, p in enumerate(self.models)]
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, int(port)), _Handler)
        except OSError as error:
            raise InputError(
                f"Cannot listen on {host}:{port} ({error.strerror or error}); "
                "pick another with --port (0: any free port)."
            ) from None

    @property
    def url(self):
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    @property
    def loopback_only(self):
        return self.server_address[0] in LOOPBACK_HOSTS

    def page_config(self):
        """What the page needs to know: LiteRT.js, the models, the budget."""
        litertjs = None
        if self.litertjs is not None:
            litertjs = {
                "version": self.litertjs["version"],
                "core": "/litertjs/core/dist/index.js",
                "wasm": "/litertjs/core/wasm/",
            }
        return {
            "litertjs": litertjs,
            "litertjs_problem": self.litertjs_problem,
            "litertjs_expected": LITERTJS_VERSION,
            "install_command": install_command(),
            "models": self._model_entries,
            "memory_budget_mb": self.memory_budget_mb,
        }

    def resolve(self, path):
        """The real file a decoded URL path names, or None (404)."""
        if path.startswith("/static/"):
            return safe_file(STATIC_DIR, path[len("/static/") :])
        if path.startswith("/models/"):
            index, _, name = path[len("/models/") :].partition("/")
            if index.isdigit() and int(index) < len(self.models):
                model = self.models[int(index)]
                if name == os.path.basename(model) and os.path.isfile(model):
                    return model
            return None
        if path.startswith("/litertjs/") and self.litertjs is not None:
            package, _, rest = path[len("/litertjs/") :].partition("/")
            if rest.split("/")[0] not in LITERTJS_SERVED.get(package, ()):
                return None
            root = self.litertjs["core" if package == "core" else "utils"]
            return safe_file(root, rest)
        return None
