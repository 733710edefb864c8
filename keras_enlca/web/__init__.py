"""The browser upscaler: `enlca web`'s server, its page and the ES-module tiler.

The page (`static/`) runs exported `.tflite` models on the user's own device
with LiteRT.js (`@litertjs/core`); `server.py` serves it on loopback with the
cross-origin isolation headers WASM threads need; `litertjs.py` finds the
LiteRT.js files (a one-time `npm install`, see `litertjs.install_command`).
Imports no TensorFlow: it works in the LiteRT-only install.
"""
