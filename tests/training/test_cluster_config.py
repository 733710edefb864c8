import json

import pytest

from keras_enlca.errors import InputError
from keras_enlca.training.cluster_config import cluster_configured
from keras_enlca.training.cluster_config import cluster_resolver
from keras_enlca.training.cluster_config import parse_tf_config


def tf_config(cluster=None, task=None):
    value = {}
    if cluster is not None:
        value["cluster"] = cluster
    if task is not None:
        value["task"] = task
    return json.dumps(value)


TWO = {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]}


def test_valid_tf_config():
    cluster, kind, index = parse_tf_config(
        tf_config(TWO, {"type": "worker", "index": 1})
    )
    assert (cluster, kind, index) == (TWO, "worker", 1)
    with_chief = {"chief": ["host-a:2222"], "worker": ["[::1]:2223"]}
    assert parse_tf_config(tf_config(with_chief, {"type": "chief"}))[1:] == ("chief", 0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (tf_config(task={"type": "worker", "index": 0}), "'cluster' is missing"),
        (tf_config(TWO), "'task' is missing"),
        (
            tf_config(TWO, {"type": "worker", "index": 2}),
            "task.index 2 is out of range: cluster.worker has 2 address(es)",
        ),
        (
            tf_config(TWO, {"type": "worker", "index": -1}),
            "task.index -1 is out of range",
        ),
        (
            tf_config(TWO, {"type": "worker", "index": "0"}),
            "task.index must be an integer",
        ),
        (
            tf_config(TWO, {"type": "chief", "index": 0}),
            "task.type 'chief' is not a job",
        ),
        (
            tf_config({"worker": ["127.0.0.1"]}, {"type": "worker"}),
            "bad address '127.0.0.1'",
        ),
        (tf_config({"worker": ["127.0.0.1:70000"]}, {"type": "worker"}), "bad address"),
        (
            tf_config({"worker": ["host a:1"]}, {"type": "worker"}),
            "bad address 'host a:1'",
        ),
        (tf_config({"worker": "h:1"}, {"type": "worker"}), "must be a non-empty list"),
        (tf_config({"worker": ["h:1", "h:1"]}, {"type": "worker"}), "appears twice"),
        (
            tf_config({"ps": ["h:1"], "worker": ["h:2"]}, {"type": "worker"}),
            "job 'ps' is not supported",
        ),
    ],
)
def test_malformed_tf_config(text, message):
    with pytest.raises(InputError) as info:
        parse_tf_config(text)
    text = str(info.value)
    assert text.startswith("TF_CONFIG: ") and message in text
    assert "\n" not in text


def test_cluster_configured(monkeypatch):
    for name in ("TF_CONFIG", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(name, raising=False)
    assert not cluster_configured()
    monkeypatch.setenv("TF_CONFIG", tf_config({"worker": ["h:1"]}, {"type": "worker"}))
    assert not cluster_configured()  # one worker is no cluster
    monkeypatch.setenv("TF_CONFIG", tf_config(TWO, {"type": "worker", "index": 0}))
    assert cluster_configured()
    monkeypatch.setenv("TF_CONFIG", "{bad")
    with pytest.raises(InputError, match="TF_CONFIG: not valid JSON"):
        cluster_configured()
    monkeypatch.delenv("TF_CONFIG")
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "1")
    assert not cluster_configured()
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    assert cluster_configured()


def test_slurm_resolver(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node[01-02]")
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "2(x2)")
    monkeypatch.setenv("ENLCA_SLURM_PORT_BASE", "30000")
    resolver = cluster_resolver()
    assert resolver.cluster_spec().as_dict() == {
        "worker": [
            "node01:30000",
            "node01:30001",
            "node02:30000",
            "node02:30001",
        ]
    }
    assert (resolver.task_type, resolver.task_id) == ("worker", 3)
    monkeypatch.setenv("ENLCA_SLURM_PORT_BASE", "x")
    with pytest.raises(InputError, match="ENLCA_SLURM_PORT_BASE must be a port"):
        cluster_resolver()


def test_no_cluster(monkeypatch):
    for name in ("TF_CONFIG", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="'multi_worker' needs a cluster"):
        cluster_resolver()
