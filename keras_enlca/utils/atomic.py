"""Write files and folders so that an interruption never leaves half of one."""

import contextlib
import os
import re
import shutil
import tempfile
import time

from keras_enlca.errors import OutputError
from keras_enlca.errors import write_error

# A temporary left by an interrupted write older than this is debris.
STALE_AFTER_SECONDS = 600


def _temporary_pattern(path):
    """Matches the temporaries `atomic_path(path)` makes (and the old copy of a
    replaced folder): `.<stem>.<8 random characters>.tmp<ext>` / `.old`."""
    stem, ext = os.path.splitext(os.path.basename(path))
    return re.compile(
        rf"^\.{re.escape(stem)}\.[a-z0-9_]{{8}}\.(tmp{re.escape(ext)}|old)$"
    )


def remove_stale_temporaries(path, min_age_s=STALE_AFTER_SECONDS):
    """Removes what an interrupted (killed) write of `path` left beside it.

    Only hidden names of the exact form `atomic_path(path)` creates, not
    modified for `min_age_s` seconds (a write still under way keeps
    changing its temporary), are removed. Returns the removed paths.
    """
    path = os.fspath(path).rstrip("/\\") or os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return []
    pattern = _temporary_pattern(path)
    removed = []
    now = time.time()
    for name in os.listdir(folder):
        if not pattern.match(name):
            continue
        candidate = os.path.join(folder, name)
        try:
            newest = os.lstat(candidate).st_mtime
            for root, dirs, files in os.walk(candidate):
                for entry in dirs + files:
                    newest = max(newest, os.lstat(os.path.join(root, entry)).st_mtime)
        except OSError:
            continue
        if now - newest >= min_age_s:
            _remove(candidate)
            removed.append(candidate)
    return removed


def _missing_parents(folder):
    """The folders `os.makedirs(folder)` would create, deepest first."""
    missing = []
    while folder and not os.path.exists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(OSError):
            os.remove(path)


def _replace_folder(tmp, path, overwrite):
    """Renames the finished folder `tmp` onto `path`.

    An empty folder at `path` is replaced directly. A non-empty one only
    with `overwrite` (the caller has checked it holds only an earlier
    artifact): it is moved aside, the new folder moved in, and the old one
    removed; if the second rename fails, the old folder is put back.
    """
    if os.path.isdir(path) and os.listdir(path):
        if not overwrite:
            raise OutputError(
                f"{path}: the folder exists and is not empty; not replaced."
            )
        stem = os.path.basename(path)
        old = tempfile.mkdtemp(
            prefix=f".{stem}.",
            suffix=".old",
            dir=os.path.dirname(os.path.abspath(path)),
        )
        os.rmdir(old)
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path, is_dir=False, overwrite=False):
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    The temporary name lives in the same folder, so the final `os.replace`
    is atomic on POSIX. On any exception the temporary file or folder (and
    any parent folder this call created) is removed and `path` is left as
    it was. A file is flushed to disk (`fsync`) before the rename.

    A file at `path` is replaced. A folder at `path` is replaced only when
    it is empty, or with `overwrite=True`: callers decide what may be
    replaced (see `keras_enlca.utils.outputs.check_output`); this function
    never removes a non-empty folder on its own.

    A failed write (`OSError`: full disk, read-only folder, file-size limit)
    is raised as `OutputError` naming `path`, not the temporary name.

    Example:

    ```python
    with atomic_path("out/model.tflite") as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    ```
    """
    path = os.fspath(path)
    path = path.rstrip("/\\") or path
    folder = os.path.dirname(os.path.abspath(path))
    created = _missing_parents(folder)
    base = os.path.basename(path)
    # Keep the extension last: some writers (PIL, Keras) choose the format
    # from it.
    stem, ext = os.path.splitext(base)
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        if is_dir:
            tmp = tempfile.mkdtemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
            os.rmdir(tmp)
        else:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder
            )
            os.close(fd)
            os.remove(tmp)
        yield tmp
        if is_dir:
            _replace_folder(tmp, path, overwrite)
        else:
            _fsync(tmp)
            os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            _remove(tmp)
        for parent in created:
            with contextlib.suppress(OSError):
                os.rmdir(parent)
        if isinstance(error, OSError) and not isinstance(error, OutputError):
            raise write_error(path, error) from None
        raise
