"""Real write faults for tests: small filesystems that fill up, read-only
folders, a file-size limit on a child process.

Mounting needs root (a tmpfs under the test's tmp folder, always
unmounted); where that is not possible the tests that need it are skipped
with the reason. The `RLIMIT_FSIZE` limit needs no privileges.
"""

import contextlib
import os
import resource
import signal
import subprocess
import sys


def _mount(*args):
    return subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)


@contextlib.contextmanager
def tmpfs(folder, size_kb):
    """A real `size_kb` KiB tmpfs mounted at `folder` (created), unmounted after.

    Skips the test (with the reason) where mounting is not allowed.
    """
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    os.makedirs(folder, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", folder)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def free_bytes(folder):
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def fill(folder, leave_bytes=0, name="filler.bin"):
    """Writes a file in `folder` until at most `leave_bytes` stay free."""
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        remaining = free_bytes(folder) - leave_bytes
        while remaining > 0:
            try:
                f.write(b"\0" * min(remaining, 1 << 16))
                f.flush()
            except OSError:
                break
            remaining = free_bytes(folder) - leave_bytes
    return path


@contextlib.contextmanager
def read_only_folder(folder):
    """`folder` (created, holding `notes.txt`), made read-only for real.

    As root, permissions do not stop writes: the folder is a tmpfs
    remounted read-only. As another user, `chmod 0o555` does it.
    """
    import pytest

    os.makedirs(folder, exist_ok=True)
    if os.geteuid() != 0:
        with open(os.path.join(folder, "notes.txt"), "w") as f:
            f.write("precious\n")
        os.chmod(folder, 0o555)
        try:
            yield folder
        finally:
            os.chmod(folder, 0o755)
        return
    with tmpfs(folder, 256):
        with open(os.path.join(folder, "notes.txt"), "w") as f:
            f.write("precious\n")
        done = _mount("-o", "remount,ro", folder)
        if done.returncode:
            pytest.skip(f"cannot remount a tmpfs read-only: {done.stderr.strip()}")
        yield folder


def limit_file_size(limit_bytes):
    """A `preexec_fn` capping every file the child writes at `limit_bytes`.

    SIGXFSZ is ignored (and stays ignored across exec), so a write past the
    limit fails with EFBIG ("File too large") instead of killing the child.
    """

    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return preexec


def run_cli_limited(args, limit_bytes, env=None, timeout=300):
    """`enlca ARGS` in a child process whose files may not exceed `limit_bytes`."""
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        **{k: str(v) for k, v in (env or {}).items()},
    )
    env.pop("ENLCA_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "keras_enlca.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=limit_file_size(limit_bytes),
    )


def listing(folder):
    """Every path under `folder`, relative, sorted (hidden files included)."""
    found = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)
