"""A real two-node Ray cluster on 127.0.0.1 for tests, always torn down.

`ray start --head` and `ray start --address` (a second raylet: a second
node) run in new sessions of their own; teardown kills every process of
those sessions by id (raylets, GCS, workers), never `ray stop` (which
would stop any other Ray on the machine). The nodes are started with
`--node-ip-address=127.0.0.1`; Ray 2.60 on Linux resolves a loopback node
address to the host's own network address (`resolve_ip_for_localhost`;
its only switch, `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, forbids a second
node). The tests therefore run in a network namespace of their own
(`in_network_namespace.sh`) whose only interface is the loopback, with one
more address as the host's: nothing the cluster sends leaves it.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Seconds allowed for each `ray start` (this shared 2-core machine is slow).
START_TIMEOUT_S = 150


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env():
    """The environment of the cluster's processes and of the drivers.

    Token authentication with a token of this cluster's own: the ports are
    on the host's address, and Ray 2.60 would otherwise switch a head to
    token mode whenever `~/.ray/auth_token` exists (any `ray.init()` that
    starts a local instance writes it) while a second node stays without.
    """
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def session_processes(sid):
    """Ids of the live processes in session `sid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields: state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(name))
    return found


def worker_pids(sids, title):
    """Ids of the Ray worker processes of these sessions whose title has `title`."""
    pids = []
    for sid in sids:
        for pid in session_processes(sid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title in cmdline:
                pids.append(pid)
    return sorted(pids)


class LocalRayCluster:
    """A head and a second node process, 1 CPU each, on 127.0.0.1."""

    def __init__(self, cpus_per_node=1):
        self.cpus = cpus_per_node
        self.temp = tempfile.mkdtemp(prefix="enlca-ray-", dir="/tmp")  # short paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.sessions = []
        self.env = ray_env()

    def _start(self, *args):
        command = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            f"--num-cpus={self.cpus}",
            "--num-gpus=0",
            "--disable-usage-stats",
            *args,
        ]
        process = subprocess.Popen(
            command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.sessions.append(process.pid)
        try:
            out, _ = process.communicate(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"ray start took over {START_TIMEOUT_S} s") from None
        if process.returncode:
            raise RuntimeError(f"ray start failed:\n{out.decode()[-2000:]}")

    def start(self):
        try:
            self._start(
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={self.port}",
                f"--ray-client-server-port={free_port()}",
                "--include-dashboard=false",
                f"--temp-dir={self.temp}",
            )
            self._start(f"--address={self.address}", "--node-ip-address=127.0.0.1")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for sid in self.sessions:
                for pid in session_processes(sid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(
                session_processes(s) for s in self.sessions
            ):
                time.sleep(0.2)
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
