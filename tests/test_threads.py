"""Metric and trainer calls run with the command line's thread settings and give the caller's back."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import degzoo.threads
from degzoo.errors import InvalidParameterError
from degzoo.metrics import Metric, degeneracy
from degzoo.models import Architecture
from degzoo.threads import compute_threads, one_blas_thread, set_threads
from degzoo.training import TrainSettings, train_ensemble


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def _settings() -> tuple[int, set[int]]:
    return torch.get_num_threads(), _blas_threads()


@pytest.fixture
def caller_settings() -> Iterator[tuple[int, set[int]]]:
    """A caller that runs torch and BLAS on 3 threads (whatever the machine has)."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with threadpool_limits(limits=3, user_api="blas"):
            assert _settings() == (3, {3})
            yield _settings()
    finally:
        torch.set_num_threads(before)
        set_threads(1)


@dataclass
class Recording(Metric):
    """A weights metric that records the thread settings each of its steps ran with."""

    name: ClassVar[str] = "recording"
    level: ClassVar[str] = "weights"
    fail: bool = False

    def __post_init__(self) -> None:
        self.seen: list[tuple[str, tuple[int, set[int]]]] = []

    def embed(self, ensemble):
        self.seen.append(("embed", _settings()))
        return np.asarray(ensemble.params["W_hh"], dtype=np.float64)

    def compare(self, a, b, symmetric):
        self.seen.append(("compare", _settings()))
        if self.fail:
            raise RuntimeError("planted failure")
        return np.linalg.norm(a[:, None] - b[None, :], axis=(-2, -1))


def test_pairwise_cross_and_degeneracy_run_on_one_thread_and_restore(tiny_ensemble, caller_settings):
    metric = Recording()
    dist = metric.pairwise(tiny_ensemble)
    metric.cross(tiny_ensemble, tiny_ensemble)
    degeneracy(tiny_ensemble, metric, n_boot=10)
    assert all(settings == (1, {1}) for _, settings in metric.seen)
    assert [step for step, _ in metric.seen].count("compare") == 3
    assert _settings() == caller_settings
    W = np.asarray(tiny_ensemble.params["W_hh"], dtype=np.float64)
    assert dist[0, 1] == pytest.approx(np.linalg.norm(W[0] - W[1]))


def test_embed_and_compare_called_directly_run_on_one_thread(tiny_ensemble, caller_settings):
    metric = Recording()
    emb = metric.embed(tiny_ensemble)
    assert _settings() == caller_settings
    metric.compare(emb, emb, True)
    assert metric.seen == [("embed", (1, {1})), ("compare", (1, {1}))]
    assert _settings() == caller_settings


def test_settings_come_back_when_the_metric_raises(tiny_ensemble, caller_settings):
    with pytest.raises(RuntimeError, match="planted failure"):
        Recording(fail=True).pairwise(tiny_ensemble)
    assert _settings() == caller_settings


def test_set_threads_none_keeps_the_callers_settings(tiny_ensemble, caller_settings):
    set_threads(None)
    metric = Recording()
    metric.pairwise(tiny_ensemble)
    assert all(settings == caller_settings for _, settings in metric.seen)
    set_threads(2)
    metric.pairwise(tiny_ensemble)
    assert metric.seen[-1] == ("compare", (2, {2}))
    assert _settings() == caller_settings


def test_the_weight_solver_runs_blas_on_one_thread_whatever_the_caller_set(caller_settings):
    """``one_blas_thread`` (around weights_perm's solver) holds even under ``set_threads(None)``,
    nests, and gives the caller's settings back."""
    set_threads(None)
    with one_blas_thread():
        assert _blas_threads() == {1}
        with one_blas_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}
    assert _settings() == caller_settings


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_threads_refuses_what_is_not_a_count(bad):
    with pytest.raises(InvalidParameterError, match="number of threads"):
        set_threads(bad)


def test_each_thread_gets_its_own_torch_threads_back(caller_settings):
    """torch keeps its thread count per thread: a call in another thread, running while this
    thread's call starts and ends, leaves this thread's settings alone, and gets its own back."""
    entered, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def other_call() -> None:
        torch.set_num_threads(2)
        with compute_threads():
            entered.set()
            release.wait(10)
            seen.append(torch.get_num_threads())
        seen.append(torch.get_num_threads())

    worker = threading.Thread(target=other_call)
    worker.start()
    assert entered.wait(10)
    with compute_threads():
        assert _settings() == (1, {1})
    assert _settings() == caller_settings
    release.set()
    worker.join(10)
    assert seen == [1, 2]
    assert _settings() == caller_settings


def _in_forked_worker(queue) -> None:
    depth_at_start = getattr(degzoo.threads._local, "depth", 0)
    with compute_threads():
        inside = _settings()
    queue.put((depth_at_start, inside, degzoo.threads._local.depth))


def test_a_worker_forked_inside_a_call_starts_outside_it(caller_settings):
    """Worker processes (``workers=``) are forked while the parent is inside its call: they must
    not restore the parent's settings, and run their own calls on one thread."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with compute_threads():
        worker = ctx.Process(target=_in_forked_worker, args=(queue,))
        worker.start()
        result = queue.get(timeout=60)
        worker.join(60)
    assert result == (0, (1, {1}), 0)
    assert worker.exitcode == 0
    assert _settings() == caller_settings


def test_train_ensemble_runs_on_one_thread_and_restores(tiny_task, caller_settings):
    seen = []
    arch = Architecture(n_inputs=2, n_outputs=2, hidden=8)
    settings = TrainSettings(lr=5e-3, batch_size=4, max_steps=2, steps_per_epoch=1)
    train_ensemble(tiny_task, arch, [1, 2], settings, progress=False,
                   callback=lambda step: seen.append(_settings()))
    assert seen == [(1, {1})] * 2
    assert _settings() == caller_settings


@pytest.mark.parametrize("threads", [1, 2])
def test_the_commands_threads_option_reaches_the_trainer(tmp_path, monkeypatch, threads):
    """``degzoo train --threads N``: the trainer, which sets its own threads, uses N; afterwards the
    library is back to its default."""
    applied = []
    apply = degzoo.threads._apply
    monkeypatch.setattr(degzoo.threads, "_apply", lambda n: applied.append(n) or apply(n))
    from degzoo.cli import main

    code = main(["train", "--task", "flipflop", "--bits", "2", "--trial-length", "10", "--members", "2",
                 "--hidden", "4", "--steps", "2", "--steps-per-epoch", "1", "--threads", str(threads),
                 "--out", str(tmp_path / "ff.h5"), "--quiet"])
    assert code == 0
    assert applied == [threads]
    assert degzoo.threads.get_threads() == 1
