"""Headless Chromium driven over the DevTools protocol, standard library only.

Chromium's `--remote-debugging-pipe` speaks the DevTools protocol as
NUL-terminated JSON over file descriptors 3 (commands in) and 4 (replies
out): no websocket client, no puppeteer, no browser download. Only the
system's Chromium (`/usr/bin/chromium`, Debian's `chromium` package, or
`$ENLCA_CHROMIUM`) is needed; tests skip where it is absent.

Example:

```python
with Chromium() as browser:
    page = browser.new_page("http://127.0.0.1:8765/")
    page.wait_for("document.body.dataset.ready === 'true'")
    page.screenshot("page.png")
```
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM_ENV = "ENLCA_CHROMIUM"


def chromium_path():
    """The Chromium executable, or None."""
    candidates = [os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium"]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


class DevToolsError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium process and its DevTools pipe."""

    def __init__(self, extra_args=(), webgpu=False, path=None):
        self.path = path or chromium_path()
        if self.path is None:
            raise DevToolsError("no Chromium (install Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="enlca-chromium-")
        args = [
            self.path,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--mute-audio",
            "--hide-scrollbars",
            "--no-sandbox",  # CI runs as root in a container
            "--window-size=1200,900",
        ]
        if webgpu:
            args += ["--enable-unsafe-webgpu", "--enable-features=Vulkan"]
        args += list(extra_args) + ["about:blank"]
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds():
            # Chromium reads fd 3 and writes fd 4; dup first so that neither
            # end is overwritten by the other's dup2. dup2 makes them
            # inheritable; every other descriptor of Python's is not (PEP 446).
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._replies = {}
        self._events = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                data = json.loads(message)
                with self._cond:
                    if "id" in data:
                        self._replies[data["id"]] = data
                    else:
                        self._events.append(data)
                    self._cond.notify_all()

    _closed = False

    def send(self, method, params=None, session=None, timeout=120):
        """One DevTools command; returns its `result` or raises `DevToolsError`."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                if self._closed:
                    raise DevToolsError(f"{method}: Chromium exited")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DevToolsError(f"{method}: no reply in {timeout} s")
                self._cond.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def events(self, method=None, session=None):
        with self._cond:
            return [
                e
                for e in self._events
                if (method is None or e.get("method") == method)
                and (session is None or e.get("sessionId") == session)
            ]

    def new_page(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        page = Page(self, session)
        page.send("Runtime.enable")
        page.send("Page.enable")
        page.send("Log.enable")
        page.navigate(url)
        return page

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except DevToolsError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    """One tab: evaluate JavaScript, set file inputs, take screenshots."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def send(self, method, params=None, timeout=120):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def navigate(self, url, timeout=60):
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def evaluate(self, expression, timeout=120):
        """The JSON value of `expression` (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "awaitPromise": True,
                "returnByValue": True,
                "userGesture": True,
            },
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get(
                "text"
            )
            raise DevToolsError(f"{expression[:60]}...: {text}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=60, interval=0.1):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression, timeout=timeout)
            except DevToolsError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise DevToolsError(
                    f"waited {timeout} s for {expression!r}; console: "
                    f"{self.console()[-5:]}"
                )
            time.sleep(interval)

    def set_files(self, selector, paths):
        """Puts files into an `<input type=file>` as a user picking them would."""
        document = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send(
            "DOM.querySelector", {"nodeId": document, "selector": selector}
        )
        self.send(
            "DOM.setFileInputFiles",
            {"nodeId": node["nodeId"], "files": [os.path.abspath(p) for p in paths]},
        )

    def screenshot(self, path, full_page=True):
        params = {"format": "png", "captureBeyondViewport": bool(full_page)}
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def console(self):
        """Console messages and exceptions so far, as text lines."""
        lines = []
        for event in self.browser.events(session=self.session):
            if event["method"] == "Runtime.consoleAPICalled":
                args = event["params"]["args"]
                text = " ".join(str(a.get("value", a.get("description"))) for a in args)
                lines.append(f"{event['params']['type']}: {text}")
            elif event["method"] == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                lines.append(
                    "exception: "
                    + str(details.get("exception", {}).get("description", details))
                )
        return lines
