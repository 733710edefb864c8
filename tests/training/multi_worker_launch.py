"""Start and stop local `enlca train` workers for the multi-worker tests.

`python multi_worker_launch.py CONFIG RUN_DIR WEIGHTS_OUT` trains the run
of `CONFIG` in `RUN_DIR` as the worker of `TF_CONFIG` and, when it finishes,
writes the final weights to `WEIGHTS_OUT` (an .npz outside the run folder),
so that a test can compare the workers.
"""

import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def start_workers(config_path, run_dir, out_dir, ports, timeout=120):
    """One `Popen` per worker (output in `out_dir/worker<i>.log`)."""
    processes = []
    for index in range(len(ports)):
        env = dict(
            os.environ,
            TF_CONFIG=tf_config(ports, index),
            ENLCA_WORKER_TIMEOUT=str(timeout),
            TF_CPP_MIN_LOG_LEVEL="2",
            CUDA_VISIBLE_DEVICES="",
        )
        log = open(os.path.join(out_dir, f"worker{index}.log"), "w")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    os.path.join(HERE, "multi_worker_launch.py"),
                    config_path,
                    run_dir,
                    os.path.join(out_dir, f"weights{index}.npz"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
    return processes


def stop_workers(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def main(config_path, run_dir, weights_out):
    import keras
    import numpy as np

    from keras_enlca.errors import InputError
    from keras_enlca.training.config import load_config
    from keras_enlca.training.run import run_training

    config = load_config(config_path, overrides=["runtime.strategy=multi_worker"])
    try:
        result = run_training(config, run_dir, log=lambda line: print(line, flush=True))
    except InputError as error:
        print(f"Error: {error}", flush=True)
        sys.exit(1)
    print(f"status {result.status} step {result.step}", flush=True)
    if result.model_path:
        model = keras.models.load_model(result.model_path, compile=False)
        np.savez(weights_out, *model.get_weights())
        print("history", json.dumps(result.history), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
