"""Keeping what native (C++) code prints off the command line.

TensorFlow, its converter and LiteRT write diagnostics straight to file
descriptors 1 and 2 (absl's "All log messages before absl::InitializeLog()",
oneDNN's notice, the XNNPACK banner); Python-level redirection cannot catch
them and `TF_CPP_MIN_LOG_LEVEL` set from Python does not reach the ones
printed at load time. `ENLCA_DEBUG=1` shows everything.
"""

import contextlib
import os
import sys
import tempfile
import warnings


@contextlib.contextmanager
def quiet_native_output(fds=(1, 2)):
    """Silences what native code prints on `fds` (stdout and stderr).

    The errors that matter are raised as exceptions and reported by us in
    one line. Python warnings raised inside are ignored too. Does nothing
    when `ENLCA_DEBUG` is set.

    Example:

    ```python
    with quiet_native_output():
        import tensorflow  # noqa: F401 - no start-up lines on stderr
    ```
    """
    if os.environ.get("ENLCA_DEBUG"):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {}
    try:
        with tempfile.TemporaryFile() as sink:
            for fd in fds:
                try:
                    saved[fd] = os.dup(fd)
                    os.dup2(sink.fileno(), fd)
                except OSError:
                    saved.pop(fd, None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
