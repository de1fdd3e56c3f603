"""Thread policy (restore/threads.py): numbers and auto, set around inference and restored."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from napari_w2s import W2SInputError
from napari_w2s.cli import main
from napari_w2s.models import build_model, get_spec
from napari_w2s.models.weights import ModelCard, save_model
from napari_w2s.restore import threads as th
from napari_w2s.restore.engine import resolve


@pytest.fixture(scope="module")
def dncnn_weights(tmp_path_factory):
    torch.manual_seed(0)
    spec = get_spec("dncnn")
    card = ModelCard(
        name="dncnn",
        architecture=spec.architecture,
        config=spec.config("compact"),
        task="denoise",
        scale=1,
        noise_level="blind",
        normalisation={"kind": "zscore", "mean": 150.0, "std": 40.0},
    )
    path = tmp_path_factory.mktemp("w") / "dncnn-blind-compact.safetensors"
    return save_model(build_model("dncnn", "compact").eval(), path, card)


def test_auto_counts_free_cores():
    assert th.auto_threads(cores=8, load=0.2) == 8
    assert th.auto_threads(cores=8, load=2.6) == 5  # the load rounded
    assert th.auto_threads(cores=2, load=1.4) == 1
    assert th.auto_threads(cores=2, load=7.0) == 1  # never below one
    assert th.auto_threads(cores=8, load=0.0, share=3) == 2  # shared among workers
    assert th.auto_threads(cores=2, load=3.0, share=4) == 1
    n = th.auto_threads()
    assert 1 <= n <= th.usable_cores()


def test_load_counts_the_threads_runnable_now(monkeypatch):
    """A job that has just started shows in ``procs_running`` before the load average rises."""
    stat = "cpu  1 2 3\nctxt 99\nprocs_running 3\nprocs_blocked 0\n"
    assert th.runnable_now(text=stat) == 2.0  # the reading thread is not other work
    assert th.runnable_now(text="procs_running 1\n") == 0.0
    assert th.runnable_now(text="cpu 1 2 3\n") == 0.0  # no such line: nothing known
    real = th.runnable_now()
    assert 0.0 <= real < 4096
    monkeypatch.setattr(th.os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    monkeypatch.setattr(th, "runnable_now", lambda: 1.0)  # one CPU-bound job, just started
    assert th.current_load() == 1.0 and th.auto_threads(cores=2) == 1
    monkeypatch.setattr(th.os, "getloadavg", lambda: (1.6, 1.0, 0.5))
    monkeypatch.setattr(th, "runnable_now", lambda: 0.0)  # a job between its busy spells
    assert th.current_load() == 1.6 and th.auto_threads(cores=4) == 2


def test_parse_threads_accepts_numbers_and_auto_only():
    assert th.parse_threads(None) is None
    assert th.parse_threads("auto") == th.parse_threads(" AUTO ") == "auto"
    assert th.parse_threads("3") == th.parse_threads(3) == 3
    for bad in (0, -1, "0", "-2", "abc", "1.5", 2.0, True):
        with pytest.raises(W2SInputError, match="auto or a whole number"):
            th.parse_threads(bad)
    assert th.from_choice("all") is None and th.from_choice("2") == 2
    assert th.thread_choices()[:3] == ["auto", "all", "1"]


def test_using_threads_sets_and_restores():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    with th.using_threads(other) as n:
        assert n == other and torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), th.using_threads(other):
        assert torch.get_num_threads() == other
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before  # restored after an error too
    with th.using_threads(None) as n:
        assert n == before == torch.get_num_threads()


def test_engine_runs_the_model_on_the_chosen_threads(dncnn_weights, monkeypatch):
    """The count is in force during the forward pass, in the thread that runs it, and put
    back afterwards; ``auto`` resolves from affinity and load."""
    before = torch.get_num_threads()
    want = 2 if before == 1 else 1
    pipe = resolve("dncnn", weights=str(dncnn_weights), device="cpu", tile=0, threads=want)
    step = pipe.steps[0]
    seen = []
    step.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    image = np.random.default_rng(0).normal(150, 20, (40, 48)).astype(np.float32)
    pipe.run(image)
    assert seen == [want] and torch.get_num_threads() == before
    assert f"{want} thread" in step.describe()["device"] and step.describe()["threads"] == want

    # in another Python thread (the widget's worker): the same
    seen.clear()
    worker = threading.Thread(target=pipe.run, args=(image,))
    worker.start()
    worker.join()
    assert seen == [want] and torch.get_num_threads() == before

    monkeypatch.setattr(th, "usable_cores", lambda: 4)
    monkeypatch.setattr(th, "current_load", lambda: 2.7)
    auto = resolve("dncnn", weights=str(dncnn_weights), device="cpu", tile=0, threads="auto")
    assert auto.steps[0].threads == 1
    monkeypatch.setattr(th, "current_load", lambda: 0.4)
    assert (
        resolve("dncnn", weights=str(dncnn_weights), device="cpu", tile=0, threads="auto")
        .steps[0]
        .threads
        == 4
    )


def test_cli_threads_option(dncnn_weights, tmp_path, capsys):
    image = np.random.default_rng(1).normal(150, 20, (40, 48)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)

    def restore(threads: str, out: str) -> dict:
        argv = ["restore", str(tmp_path / "in.npy"), "--method", "dncnn", "--device", "cpu"]
        argv += ["--weights", str(dncnn_weights), "--threads", threads]
        code = main([*argv, "--out", str(tmp_path / out), "--json"])
        assert code == 0
        return json.loads(capsys.readouterr().out)

    assert restore("auto", "out.npy")["pipeline"]["steps"][0]["threads"] >= 1
    assert restore("1", "out1.npy")["pipeline"]["steps"][0]["threads"] == 1
    np.testing.assert_allclose(
        np.load(tmp_path / "out1.npy"), np.load(tmp_path / "out.npy"), atol=1e-4
    )
    for command in (
        ["restore", str(tmp_path / "in.npy"), "--out", str(tmp_path / "x.npy")],
        ["batch", str(tmp_path), str(tmp_path / "b"), "--method", "dncnn"],
        ["train", "--model", "dncnn", "--data", "random", "--out", str(tmp_path / "t")],
    ):
        for bad in ("0", "-1", "abc"):
            with pytest.raises(SystemExit) as exc:
                main([*command, "--threads", bad])
            err = capsys.readouterr().err
            assert exc.value.code == 2 and err.count("\n") == 1 and "--threads" in err, err
    parser_args = __import__("napari_w2s.cli", fromlist=["build_parser"]).build_parser()
    assert (
        parser_args.parse_args(
            ["train", "--model", "dncnn", "--data", "random", "--out", "o", "--threads", "auto"]
        ).threads
        == "auto"
    )
    assert (
        parser_args.parse_args(["batch", "a", "b", "--method", "dncnn", "--threads", "3"]).threads
        == 3
    )


def test_batch_threads_auto(dncnn_weights, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / "a.npy", np.random.default_rng(2).normal(150, 20, (32, 40)).astype(np.float32))
    code = main(
        [
            "batch",
            str(src),
            str(tmp_path / "out"),
            "--method",
            "dncnn",
            "--weights",
            str(dncnn_weights),
            "--device",
            "cpu",
            "--threads",
            "auto",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr()
    assert (tmp_path / "out" / "a_dncnn.ome.tif").exists()


def test_allocator_settings_apply_in_a_fresh_process():
    """The w2s command's allocator settings (restore/alloc.py): applied on glibc, and
    ``W2S_MALLOC=default`` leaves the allocator alone (a child process: they are one-way)."""
    import os
    import subprocess
    import sys

    code = "from napari_w2s.restore.alloc import keep_freed_memory; print(keep_freed_memory())"
    env = {**os.environ, "W2S_MALLOC": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    import platform

    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert out == "True"
    env["W2S_MALLOC"] = "default"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        == "False"
    )


def test_idle_threads_sleep_in_the_w2s_command():
    """``w2s`` sets OMP_WAIT_POLICY=PASSIVE before torch loads, and keeps a user's choice."""
    import os
    import subprocess
    import sys

    code = (
        "import os, sys; from napari_w2s.cli import main; main(['models', '--json']); "
        "import torch; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "PASSIVE True"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "ACTIVE True"
