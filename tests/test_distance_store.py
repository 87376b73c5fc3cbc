"""The distance store reuses a stored call only for the networks it was computed on."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest

from degzoo.benchmark.store import (
    MetricRunner,
    StaleDistancesWarning,
    input_fingerprint,
    same_inputs,
)
from degzoo.metrics import FrobeniusWeightDistance


class CountingFrobenius(FrobeniusWeightDistance):
    """Frobenius distance that counts its compare calls."""

    calls = 0

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        CountingFrobenius.calls += 1
        return super().compare(a, b, symmetric)


def _noisy(ens, scale: float, seed: int):
    rng = np.random.default_rng(seed)
    return ens.with_params({k: v * (1 + scale * rng.standard_normal(v.shape)).astype(v.dtype)
                            for k, v in ens.params.items()})


def _runner(store) -> MetricRunner:
    return MetricRunner(CountingFrobenius(), None, store=store, header={"run": "test"})


def test_fingerprints_ignore_float_rounding_and_see_any_other_network(tiny_ensemble):
    base = input_fingerprint(tiny_ensemble)
    assert same_inputs(base, input_fingerprint(_noisy(tiny_ensemble, 1e-7, 0)))  # machine-level noise
    assert not same_inputs(base, input_fingerprint(_noisy(tiny_ensemble, 1e-2, 0)))  # a near-twin
    assert not same_inputs(input_fingerprint(_noisy(tiny_ensemble, 1e-2, 0)),
                           input_fingerprint(_noisy(tiny_ensemble, 1e-2, 1)))  # another draw of it
    assert not same_inputs(base, input_fingerprint(tiny_ensemble.subset([0, 1, 2])))
    assert not same_inputs(base, input_fingerprint(tiny_ensemble.subset([1, 0, 2, 3])))
    assert not same_inputs(base, input_fingerprint(tiny_ensemble, tiny_ensemble))


def test_a_stored_call_is_reused_for_its_networks_and_recomputed_for_others(tiny_ensemble, tmp_path):
    store = tmp_path / "run.distances.npz"
    twin = _noisy(tiny_ensemble, 1e-2, 0)
    first = _runner(store).pairwise(("twin", "home", 0), twin)

    CountingFrobenius.calls = 0
    resumed = _runner(store)
    resumed.load_store()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(resumed.pairwise(("twin", "home", 0), twin), first)
    assert CountingFrobenius.calls == 0

    # the suites now build another twin under the same description: it is computed, not reused
    other = _noisy(tiny_ensemble, 1e-2, 1)
    changed = _runner(store)
    changed.load_store()
    with pytest.warns(StaleDistancesWarning, match="other networks"):
        dist = changed.pairwise(("twin", "home", 0), other)
    assert CountingFrobenius.calls > 0
    fresh = _runner(None).pairwise(("twin", "home", 0), other)
    assert np.array_equal(dist, fresh) and not np.array_equal(dist, first)
    again = _runner(store)  # and the store now holds the new call
    again.load_store()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(again.pairwise(("twin", "home", 0), other), dist)


def test_a_store_without_fingerprints_is_taken_as_it_is_and_fingerprinted(tiny_ensemble, tmp_path):
    store = tmp_path / "old.distances.npz"
    first = _runner(store).pairwise(("twin", "home", 0), tiny_ensemble)
    with np.load(store, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "inputs"}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    store.write_bytes(buffer.getvalue())  # as written before fingerprints were kept

    CountingFrobenius.calls = 0
    old = _runner(store)
    old.load_store()
    assert np.array_equal(old.pairwise(("twin", "home", 0), tiny_ensemble), first)
    assert CountingFrobenius.calls == 0
    old.pairwise(("twin", "home", 1), tiny_ensemble.subset([0, 1]))  # a new call saves the store
    with np.load(store, allow_pickle=False) as data:
        assert len(json.loads(str(data["inputs"]))) == 2  # the old call is fingerprinted now
