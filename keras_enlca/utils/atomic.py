"""Write files and folders so that an interruption never leaves half of one."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path, is_dir=False):
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    The temporary name lives in the same folder, so the final `os.replace`
    is atomic on POSIX. On any exception the temporary file or folder is
    removed and `path` is left as it was.

    Example:

    ```python
    with atomic_path("out/model.tflite") as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    ```
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    # Keep the extension last: some writers (PIL, Keras) choose the format
    # from it.
    stem, ext = os.path.splitext(base)
    if is_dir:
        tmp = tempfile.mkdtemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
        shutil.rmtree(tmp)
    else:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
        os.close(fd)
        os.remove(tmp)
    try:
        yield tmp
        if is_dir and os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise
