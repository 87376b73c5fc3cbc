"""All-pairs distances in blocks on local processes and on a real Dask LocalCluster equal the
single-process ones; worker processes work from plain scripts and a dead worker is a clear error."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from degzoo import metrics, zoo
from degzoo.engine import WorkerDiedError, run_jobs
from degzoo.errors import InvalidParameterError
from degzoo.metrics import parallel
from degzoo.metrics.parallel import blocked_compare, take_members

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ens():
    return zoo.load("flipflop", bits=2).subset(np.arange(7))


@pytest.fixture
def always_parallel(monkeypatch):
    """Send every block after the first to worker processes, however cheap."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)


@pytest.mark.parametrize("name", ["weights_perm", "cka"])
def test_local_processes_give_the_same_matrix(ens, name, always_parallel):
    metric = metrics.get(name)
    np.testing.assert_array_equal(metric.pairwise(ens, workers=2), metric.pairwise(ens))


def test_dsa_blocks_equal_the_single_process_matrix(ens, always_parallel):
    """Bit for bit, whatever the blocks: a pair's solve does not depend on its batch-mates."""
    metric = metrics.get("dsa", n_delays=5, rank=12, n_starts=4)
    single = metric.pairwise(ens)
    np.testing.assert_array_equal(metric.pairwise(ens, workers=2), single)
    emb = metric.embed(ens)
    for blocks in (2, 3):
        got = blocked_compare(metric, emb, emb, len(ens), len(ens), True, workers=1, blocks=blocks)
        got = 0.5 * (got + got.T)
        np.fill_diagonal(got, 0.0)
        np.testing.assert_array_equal(got, single)


class CountingMetric:
    """Records the process id that computed each block."""

    name = "pid"

    def compare(self, emb_a, emb_b, symmetric):
        return np.full((len(emb_a), len(emb_b)), float(os.getpid()))


def test_cheap_work_stays_in_this_process():
    emb = np.arange(12.0)
    got = blocked_compare(CountingMetric(), emb, emb, 12, 12, True, workers=2)
    assert set(np.unique(got)) == {float(os.getpid())}


def test_expensive_work_goes_to_workers(always_parallel):
    emb = np.arange(12.0)
    got = blocked_compare(CountingMetric(), emb, emb, 12, 12, True, workers=2)
    assert len(set(np.unique(got)) - {float(os.getpid())}) >= 1


def test_a_known_estimate_decides_at_once():
    """Given the work's estimate (the runner's measured speed), no block is computed here first to
    time it: slow work goes to the workers whole, cheap work stays here."""
    emb, here = np.arange(12.0), float(os.getpid())
    slow = blocked_compare(CountingMetric(), emb, emb, 12, 12, True, workers=2, seconds_estimate=60.0)
    assert here not in set(np.unique(slow))
    cheap = blocked_compare(CountingMetric(), emb, emb, 12, 12, True, workers=2, seconds_estimate=0.1)
    assert set(np.unique(cheap)) == {here}


class SleepsPerPair(metrics.FrobeniusWeightDistance):
    """Frobenius distance that takes 40 ms per pair of members it is given, in any process."""

    def compare(self, emb_a, emb_b, symmetric):
        time.sleep(0.04 * len(emb_a["W_hh"]) * len(emb_b["W_hh"]))
        return super().compare(emb_a, emb_b, symmetric)


def test_the_runner_counts_process_seconds_whatever_the_workers(ens, always_parallel, monkeypatch):
    """A call cut into blocks on workers costs the sum of its blocks' process times, not its wall
    time, so the cost suite's seconds per pair do not depend on --workers; a call computed in this
    process costs its wall time. (What is checked is the bookkeeping, not a timing figure.)"""
    import degzoo.benchmark.store as store
    from degzoo.benchmark.store import MetricRunner

    reported: list[list[float]] = []
    real = store.blocked_compare

    def spy(*args, block_seconds, **kwargs):
        out = real(*args, block_seconds=block_seconds, **kwargs)
        reported.append(list(block_seconds))
        return out

    monkeypatch.setattr(store, "blocked_compare", spy)
    four = ens.subset([0, 1, 2, 3])
    runners = {n: MetricRunner(SleepsPerPair(), None, workers=n) for n in (1, 2)}
    for runner in runners.values():
        runner.pairwise("four", four)
    one, two = runners[1].total, runners[2].total
    assert one.process_seconds == pytest.approx(one.seconds)  # one process: wall time
    assert [kind for kind, _, _ in one.per_call] == ["embed", "compare"]
    # two workers: the embedding and the orientation probe (3 pairs) in this process, then one
    # call in blocks on the workers
    assert len(reported) == 1 and len(reported[0]) >= 2 and min(reported[0]) > 0
    embed, probe, blocked = two.per_call
    assert [(kind, units) for kind, _, units in two.per_call] == [
        ("embed", 4), ("compare", 3), ("compare", 6)]
    assert blocked[1] == sum(reported[0])  # the call's process seconds: the sum of its blocks
    assert two.process_seconds == pytest.approx(embed[1] + probe[1] + sum(reported[0]))


def test_a_long_call_reports_its_blocks_as_they_arrive(ens):
    """The harness's progress line shows how far one long all-pairs call is (its blocks done)."""
    from degzoo.benchmark.store import MetricRunner

    seen: list[str] = []

    class Watched(metrics.FrobeniusWeightDistance):
        def compare(self, emb_a, emb_b, symmetric):
            seen.append(runner.stats.current)  # cheap blocks stay in this process: it can look
            return super().compare(emb_a, emb_b, symmetric)

    runner = MetricRunner(Watched(), None, workers=2)
    runner.pairwise("seven", ens)
    blocks = [text for text in seen if "blocks done" in text]
    total = int(blocks[-1].rsplit("/", 1)[1].split()[0])
    assert blocks == [f"compare of 21 pair(s), {k}/{total} blocks done" for k in range(1, total)]
    assert seen[0] == "compare of 3 pair(s)"  # the orientation probe, inside the call
    assert runner.stats.current == ""  # nothing under way once it returned

    calls: list[tuple[int, int]] = []
    emb = np.arange(6.0)
    blocked_compare(CountingMetric(), emb, emb, 6, 6, False, workers=1, blocks=3,
                    on_block=lambda done, n: calls.append((done, n)))
    assert calls == [(k, 9) for k in range(1, 10)]


def test_pairwise_with_workers_from_an_unguarded_script(tmp_path):
    """No ``if __name__ == "__main__":`` guard, and a metric defined in the script itself."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from degzoo import metrics, zoo
        from degzoo.metrics import parallel

        parallel.MIN_PARALLEL_SECONDS = 0.0
        print("script body ran", flush=True)

        def my_distance(a, b):
            return float(np.abs(a.params["W_hh"] - b.params["W_hh"]).sum())

        ens = zoo.load("flipflop", bits=2).subset(np.arange(5))
        for metric in (metrics.get("weights_perm"), metrics.get(my_distance, level="weights")):
            assert np.array_equal(metric.pairwise(ens, workers=2), metric.pairwise(ens))
        print("ok")
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["script", "body", "ran", "ok"]  # the children did not rerun it


def _die(_: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


def test_a_killed_worker_is_a_clear_error():
    with pytest.raises(WorkerDiedError, match=r"killed by signal 9 \(SIGKILL\).*fewer workers"):
        list(run_jobs(_die, [(i,) for i in range(4)], workers=2))


class OrderedPairs:
    """``|x - y| + x / 10`` (it depends on the pair's order) between scalar embeddings; its
    all-pairs call fills the ``triangle`` given ("lower" as ``dsa-metric``, "upper", or "both")."""

    name = "ordered_pairs"

    def __init__(self, triangle: str) -> None:
        self.triangle = triangle

    def compare(self, emb_a, emb_b, symmetric):
        out = np.abs(emb_a[:, None] - emb_b[None]) + emb_a[:, None] / 10
        if symmetric and self.triangle != "both":
            out = np.tril(out, -1) if self.triangle == "lower" else np.triu(out, 1)
            out = out + out.T
        return out


@pytest.mark.parametrize("triangle, expect", [("lower", "lower"), ("upper", "upper"), ("both", None)])
def test_blocks_of_an_order_dependent_metric_follow_its_own_triangle(triangle, expect, always_parallel):
    metric, emb = OrderedPairs(triangle), np.linspace(0.0, 3.0, 11)
    assert parallel.symmetric_orientation(metric, emb, 2, 7) == expect
    single = metric.compare(emb, emb, True)
    for blocks in (2, 3, None):
        got = blocked_compare(metric, emb, emb, 11, 11, True, workers=2, blocks=blocks)
        np.testing.assert_array_equal(got, single)
    assert parallel.symmetric_orientation(CountingMetric(), emb, 0, 1) == "upper"  # symmetric


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


class _Stop(Exception):
    pass


def test_a_check_that_raises_stops_the_workers():
    """How a caller in a thread (the benchmark's suites) cancels jobs: its check raises, the workers go."""
    pool_pids: list[int] = []

    def check() -> None:
        pool_pids.extend(p.pid for p in multiprocessing.active_children())
        if time.perf_counter() - t0 > 0.5:
            raise _Stop

    t0 = time.perf_counter()
    with pytest.raises(_Stop):
        list(run_jobs(_sleep, [(60.0,)] * 4, workers=2, check=check))
    assert time.perf_counter() - t0 < 30  # not the 60 s jobs
    assert pool_pids and not [c for c in multiprocessing.active_children() if c.pid in pool_pids]


def test_workers_must_be_positive():
    with pytest.raises(InvalidParameterError, match="workers must be a positive"):
        list(run_jobs(abs, [(1,)], workers=-2))


def test_dask_local_cluster_cross(ens):
    metric = metrics.get("weights_perm")
    a, b = ens.subset([0, 1, 2]), ens.subset([3, 4, 5, 6])
    np.testing.assert_array_equal(metric.cross(a, b, cluster="local:2"), metric.cross(a, b))


class IndexSum:
    """A 'metric' whose distance is the sum of the two members' indices."""

    name = "index_sum"

    def compare(self, emb_a, emb_b, symmetric):
        return emb_a[:, None] + emb_b[None, :] + 0.0


def test_blocks_cover_every_pair_once():
    """Any misplaced or missing block shows in the index sums."""
    emb = np.arange(11.0)
    for blocks in (1, 2, 3, 5, 11):
        got = blocked_compare(IndexSum(), emb, emb, 11, 11, True, workers=1, blocks=blocks)
        np.testing.assert_array_equal(got, emb[:, None] + emb[None, :])
    other = np.arange(4.0) * 100
    got = blocked_compare(IndexSum(), emb, other, 11, 4, False, workers=1, blocks=3)
    np.testing.assert_array_equal(got, emb[:, None] + other[None, :])


def test_take_members_and_a_clear_error_for_other_embeddings():
    emb = {"W": np.arange(12.0).reshape(4, 3), "scale": 2.0}
    sub = take_members(emb, [3, 1])
    np.testing.assert_array_equal(sub["W"], emb["W"][[3, 1]])
    assert sub["scale"] == 2.0
    assert take_members(["a", "b", "c"], [2, 0]) == ["c", "a"]
    with pytest.raises(InvalidParameterError, match="workers=1"):
        take_members(object(), [0])


@pytest.mark.parametrize(("name", "rtol"), [("weights_perm", 0.0), ("dsa", 0.0), ("cka", 1e-12)])
def test_paired_distances_equal_the_diagonal_of_the_full_call(ens, name, rtol, always_parallel):
    """A network against the network built from it: n one-pair calls give the full call's diagonal,
    in this process and on workers; bit for bit where a pair's arithmetic does not depend on its
    batch (weights_perm, DSA), to round-off where the metric batches its matrix products (CKA)."""
    metric = metrics.get(name) if name != "dsa" else metrics.get("dsa", n_delays=5, rank=12, n_starts=4)
    order = np.array([3, 0, 6, 1, 5, 2, 4])
    ea, eb = metric.embed(ens), metric.embed(ens.subset(order))
    full = np.asarray(metric.compare(ea, eb, False))
    for workers in (1, 2):
        got = parallel.paired_compare(metric, ea, eb, np.arange(7), np.arange(7), workers=workers)
        np.testing.assert_allclose(got, np.diag(full), rtol=rtol, atol=0)
    # member i against its own copy, wherever the copy sits: that entry of the full call
    got = parallel.paired_compare(metric, ea, eb, np.arange(7), np.argsort(order), workers=1)
    np.testing.assert_allclose(got, full[np.arange(7), np.argsort(order)], rtol=rtol, atol=1e-15)
    assert parallel.paired_compare(metric, ea, eb, [], []).shape == (0,)
    with pytest.raises(ValueError, match="two index lists of one length"):
        parallel.paired_compare(metric, ea, eb, [0, 1], [0])


def test_the_runner_pays_for_n_pairs_and_takes_opaque_embeddings_whole(monkeypatch):
    """``MetricRunner.paired`` costs one pair per member (the index-sum metric counts them); a
    metric whose embedding cannot be split into members gets one full call, and the same values."""
    from degzoo.benchmark.store import MetricRunner

    class Counted(IndexSum):
        pairs = 0

        def embed(self, ens):
            return np.asarray(ens, dtype=float)

        def compare(self, emb_a, emb_b, symmetric):
            Counted.pairs += len(emb_a) * len(emb_b)
            return super().compare(emb_a, emb_b, symmetric)

    class Opaque(Counted):
        def embed(self, ens):
            return _Wrapped(np.asarray(ens, dtype=float))

        def compare(self, emb_a, emb_b, symmetric):
            return super().compare(emb_a.values, emb_b.values, symmetric)

    a, b = list(range(6)), [10 * i for i in range(6)]
    runner = MetricRunner(Counted(), None)
    monkeypatch.setattr(runner, "anonymous", lambda key, ens: ens)  # plain lists: nothing to relabel
    np.testing.assert_array_equal(runner.paired("a", a, "b", b), np.arange(6) * 11.0)
    assert Counted.pairs == 6
    np.testing.assert_array_equal(runner.paired("a", a, "b", b, [5, 4, 3, 2, 1, 0]), 50.0 - 9 * np.arange(6))
    Counted.pairs = 0
    opaque = MetricRunner(Opaque(), None)
    monkeypatch.setattr(opaque, "anonymous", lambda key, ens: ens)
    np.testing.assert_array_equal(opaque.paired("a", a, "b", b), np.arange(6) * 11.0)
    assert Counted.pairs == 36
    with pytest.raises(ValueError, match="one member of ens_b per member"):
        runner.paired("a", a, "c", b, [0, 1])


class _Wrapped:
    """An embedding that :func:`take_members` cannot split."""

    def __init__(self, values):
        self.values = values

    def __len__(self):
        return len(self.values)


class RaisesOnThree(metrics.FrobeniusWeightDistance):
    """Frobenius distance that fails on ensembles of three members (a condition it cannot handle)."""

    def compare(self, emb_a, emb_b, symmetric):
        if len(emb_a["W_hh"]) == 3:
            raise ValueError("three members")
        return super().compare(emb_a, emb_b, symmetric)


@pytest.mark.parametrize("name", ["weights_perm", "dsa"])
def test_whole_calls_on_workers_equal_each_single_process_call(ens, name):
    """One job per call on two workers: each matrix is the metric's own call, bit for bit, in the
    order the calls were given (all pairs of one ensemble, or one ensemble against another)."""
    metric = metrics.get(name, **({"n_delays": 5, "rank": 12, "n_starts": 4} if name == "dsa" else {}))
    a, b, c = ens.subset([0, 1, 2, 3]), ens.subset([4, 5, 6]), ens.subset([1, 3, 5, 6, 0])
    calls = [(a, None), (b, c), (c, None), (b, a)]
    got = parallel.compare_each(metric, calls, workers=2, seconds_estimate=1e9)
    for (first, second), dist in zip(calls, got, strict=True):
        emb = metric.embed(first)
        other = emb if second is None else metric.embed(second)
        want = metric.compare(emb, other, second is None)
        np.testing.assert_array_equal(dist, np.asarray(want))


def test_whole_calls_keep_the_others_when_one_raises(ens):
    calls = [(ens.subset([0, 1]), None), (ens.subset([2, 3, 4]), None), (ens.subset([4, 5, 6, 0]), None)]
    got = parallel.compare_each(RaisesOnThree(), calls, workers=2, seconds_estimate=1e9)
    assert got[1] is None and got[0].shape == (2, 2) and got[2].shape == (4, 4)


def _runner(metric, workers, **kwargs):
    from degzoo.benchmark.store import MetricRunner

    return MetricRunner(metric, zoo.open_release(zoo.embedded_path()), workers=workers, **kwargs)


def test_prefetched_conditions_equal_the_runner_own_calls(always_parallel):
    """What the trend suite asks for first (every condition's members at once) is computed as one
    batch on the workers, and each ``within`` then returns the same matrix as one process's call."""
    metric = metrics.get("weights_perm")
    single, batched = _runner(metric, 1), _runner(metric, 2)
    conds = [c["id"] for c in single.release.conditions[:3]]
    idx = np.arange(4)
    expected = [single.within(c, idx) for c in conds]
    batched.within(conds[0], idx)  # known: its speed is measured, it is not asked for again
    calls = batched.total.calls
    batched.prefetch_within([(c, idx) for c in conds])
    assert batched.total.calls == calls + 1 and len(batched._prefetched) == 2  # one batch call
    for cond, want in zip(conds, expected, strict=True):
        np.testing.assert_array_equal(batched.within(cond, idx), want)
    assert batched.total.calls == calls + 1 and not batched._prefetched  # nothing computed again
    # cross calls (calibration's ladders: one network against its perturbed copies)
    crosses = [(("member", c, (0,)), single.sub(c, np.arange(1)), ("member", c, (1, 2, 3)),
                single.sub(c, np.arange(1, 4))) for c in conds]
    expected = [single.cross(*call) for call in crosses]
    batched.prefetch_cross(crosses)
    assert batched.total.calls == calls + 2 and len(batched._prefetched) == 3
    for call, want in zip(crosses, expected, strict=True):
        np.testing.assert_array_equal(batched.cross(*call), want)
    assert batched.total.calls == calls + 2 and not batched._prefetched


class StoppedHere(Exception):
    """A run stopped (a session's end, Ctrl-C) while a batch was on the workers."""


def test_a_batch_stopped_part_way_keeps_the_calls_it_finished_in_the_store(always_parallel, monkeypatch,
                                                                          tmp_path):
    """A batch on the workers can take hours (a slow metric's trend suite): each call is in the
    distance store as it arrives, so a run stopped before the batch ends resumes with them."""
    import degzoo.benchmark.store as store_module

    store, header = tmp_path / "distances.npz", {"metric": "weights_perm"}
    metric = metrics.get("weights_perm")
    runner = _runner(metric, 2, store=store, header=header)
    conds = [c["id"] for c in runner.release.conditions[:3]]
    crosses = [(("member", c, (0,)), runner.sub(c, np.arange(1)), ("member", c, (1, 2, 3)),
                runner.sub(c, np.arange(1, 4))) for c in conds]
    real = store_module.compare_each

    def stopped_after_the_first(*args, on_result, **kwargs):
        def keep_then_stop(index, dist):
            on_result(index, dist)
            raise StoppedHere

        return real(*args, on_result=keep_then_stop, **kwargs)

    monkeypatch.setattr(store_module, "compare_each", stopped_after_the_first)
    with pytest.raises(StoppedHere):
        runner.prefetch_cross(crosses)
    resumed, single = _runner(metric, 1, store=store, header=header), _runner(metric, 1)
    assert resumed.load_store() == 1  # the call that arrived, and only it
    computed = []
    for call in crosses:
        before = resumed.total.calls
        np.testing.assert_array_equal(resumed.cross(*call), single.cross(*call))
        computed.append(resumed.total.calls > before)
    assert sorted(computed) == [False, True, True]  # one taken from the store, two computed now


def test_a_resumed_run_knows_the_metric_speed_from_its_store(tmp_path):
    """The metric's speed in one process is kept in the distance store, so a resumed run sends its
    first call to the workers at once (a slow reference implementation's first call alone can
    take many minutes with the other cores idle)."""
    store, header = tmp_path / "distances.npz", {"metric": "weights_perm"}
    metric = metrics.get("weights_perm")
    runner = _runner(metric, 2, store=store, header=header)
    assert runner._serial_seconds(100) is None
    cond = runner.release.conditions[0]["id"]
    runner.within(cond, np.arange(4))
    measured = runner._serial_seconds(100)
    assert measured is not None and measured > 0
    resumed = _runner(metric, 2, store=store, header=header)
    resumed.load_store()
    assert resumed._serial_seconds(100) == pytest.approx(measured)


def test_a_prefetched_call_that_fails_raises_where_the_suite_asks_for_it(always_parallel):
    runner = _runner(RaisesOnThree(), 2)
    conds = [c["id"] for c in runner.release.conditions[:3]]
    runner.within(conds[2], np.arange(4))
    runner.prefetch_within([(conds[0], np.arange(3)), (conds[1], np.arange(4))])
    assert len(runner._prefetched) == 1
    with pytest.raises(ValueError, match="three members"):
        runner.within(conds[0], np.arange(3))


def test_no_batch_that_a_time_limit_cannot_afford(always_parallel):
    """Under a time limit the batch runs only when the metric's measured speed says it fits; the
    suite's own calls then run (and stop) as they would have."""
    from degzoo.benchmark.store import Deadline

    runner = _runner(metrics.get("weights_frobenius"), 2)
    conds = [c["id"] for c in runner.release.conditions[:3]]
    runner.deadline = Deadline(600.0)
    runner.prefetch_within([(c, np.arange(4)) for c in conds])  # speed not measured yet
    assert not runner._prefetched
    runner.within(conds[0], np.arange(4))
    runner.prefetch_within([(c, np.arange(4)) for c in conds])
    assert len(runner._prefetched) == 2
