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
    store_content_hash,
)
from degzoo.errors import InvalidParameterError
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
        arrays = {k: data[k] for k in data.files if k not in ("inputs", "content_sha256")}
    buffer = io.BytesIO()
    np.savez(buffer, content_sha256=np.array(store_content_hash(arrays)), **arrays)
    store.write_bytes(buffer.getvalue())  # as written before fingerprints were kept (and sealed)

    CountingFrobenius.calls = 0
    old = _runner(store)
    old.load_store()
    assert np.array_equal(old.pairwise(("twin", "home", 0), tiny_ensemble), first)
    assert CountingFrobenius.calls == 0
    old.pairwise(("twin", "home", 1), tiny_ensemble.subset([0, 1]))  # a new call saves the store
    with np.load(store, allow_pickle=False) as data:
        assert len(json.loads(str(data["inputs"]))) == 2  # the old call is fingerprinted now


def _edited(store, edit) -> None:
    """Apply ``edit(arrays)`` to the store's arrays and write it back with its recorded hash."""
    with np.load(store, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    edit(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    store.write_bytes(buffer.getvalue())


def _matrices(arrays) -> list[str]:
    return [k for k in arrays if k.startswith("a")]


@pytest.mark.parametrize("edit", [
    lambda a: a.update({k: a[k] * 2 for k in _matrices(a)}),  # scaled
    lambda a: a.update({k: np.zeros_like(a[k]) for k in _matrices(a)}),  # zeroed
    lambda a: a.update({"a0": a["a1"], "a1": a["a0"]}),  # swapped
    lambda a: a["a0"].__setitem__((0, 1), np.nan),  # a NaN
    lambda a: a["a0"].__setitem__((0, 1), a["a0"][0, 1] + 1.0),  # asymmetric
    lambda a: a.pop("content_sha256"),  # no hash (an older degzoo's, or stripped)
], ids=["scaled", "zeroed", "swapped", "nan", "asymmetric", "no-hash"])
def test_an_edited_store_is_refused_not_resumed(tiny_ensemble, tmp_path, edit):
    store = tmp_path / "run.distances.npz"
    runner = _runner(store)
    runner.pairwise(("twin", "home", 0), tiny_ensemble)
    runner.pairwise(("twin", "home", 1), tiny_ensemble.subset([0, 1, 2]))
    intact = _runner(store)
    assert intact.load_store() == 2
    _edited(store, edit)
    with pytest.raises(InvalidParameterError, match=r"was changed after it was written.*delete it"):
        _runner(store).load_store()
