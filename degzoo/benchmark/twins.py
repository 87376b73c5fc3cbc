"""Planted ground truth: twins, perturbations, interpolations and probe-set copies of networks.

Exact functional copies (``permutation``, ``sign_flip``) are ordinary in-memory ensembles whose
weights are relabelled: with a permutation ``p`` and signs ``s`` (D = diag(s)), unit ``i`` of the twin
is unit ``p[i]`` of the original times ``s[i]``::

    W_hh' = D P W_hh Pᵀ D,  W_in' = D P W_in,  b' = D P b,  W_out' = W_out Pᵀ D,  b_out' = b_out

A tanh network (vanilla or µP: both apply tanh, an odd function, to a state that is linear in the
weights) then has states ``h' = D P h`` and exactly the same outputs, so *any* metric — one that reads
weights, simulates the network itself, or uses ``trajectories()`` — sees a genuine copy.

``orthogonal`` and ``scale`` are not symmetries of a tanh network: a rotated or rescaled network
computes something else. What a metric that claims them promises is that it does not depend on the
*coordinates* in which the states are recorded. :class:`TransformedEnsemble` is that view: the same
networks (same outputs and losses) described in the basis ``h' = G h`` (``G`` a random orthogonal
matrix, or ``c·I`` with a random ``c``): ``trajectories()``/``run()`` return ``G h``, and ``params``
are the weights in that basis (``W_hh' = G W_hh G⁻¹``, ``W_in' = G W_in``, ``b' = G b``,
``W_out' = W_out G⁻¹``, exact for the linear part of the network). A trajectory metric sees
rotated or scaled states; a weight metric sees the change of basis of its matrices.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from degzoo.benchmark.trained_matches import TRAINED_STATISTICS, trained_matches
from degzoo.errors import InvalidParameterError
from degzoo.models import PARAM_NAMES
from degzoo.zoo.ensemble import Ensemble, Network

TWIN_KINDS = ("permutation", "sign_flip", "orthogonal", "scale")
Params = dict[str, np.ndarray]


def initial_or_none(ens: Ensemble) -> Params | None:
    """The ensemble's initial weights, or None for an in-memory ensemble without them."""
    try:
        return ens.initial_params
    except InvalidParameterError:
        return None


def signed_permutation(params: Params, perms: np.ndarray, signs: np.ndarray) -> Params:
    """Relabel units of every member: ``perms [E, H]`` (int), ``signs [E, H]`` (±1)."""
    out: Params = {}
    e_idx = np.arange(perms.shape[0])[:, None]
    s = signs.astype(params["W_hh"].dtype)
    W = params["W_hh"][e_idx[:, :, None], perms[:, :, None], perms[:, None, :]]
    out["W_hh"] = W * s[:, :, None] * s[:, None, :]
    out["W_in"] = params["W_in"][e_idx, perms] * s[:, :, None]
    out["b"] = params["b"][e_idx, perms] * s
    out["W_out"] = np.take_along_axis(params["W_out"], perms[:, None, :], axis=2) * s[:, None, :]
    out["b_out"] = params["b_out"].copy()
    return out


def change_of_basis(params: Params, G: np.ndarray) -> Params:
    """Weights in the basis ``h' = G h`` for ``G [E, H, H]`` invertible (see the module docstring)."""
    dtype = params["W_hh"].dtype
    G = G.astype(np.float64)
    Gi = np.linalg.inv(G)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    return {
        "W_hh": (G @ p["W_hh"] @ Gi).astype(dtype),
        "W_in": (G @ p["W_in"]).astype(dtype),
        "b": np.einsum("ehk,ek->eh", G, p["b"]).astype(dtype),
        "W_out": (p["W_out"] @ Gi).astype(dtype),
        "b_out": params["b_out"].copy(),
    }


def random_orthogonal(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` Haar-random orthogonal ``n × n`` matrices (det ±1 both occur)."""
    q, r = np.linalg.qr(rng.standard_normal((count, n, n)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def random_scales(count: int, rng: np.random.Generator) -> np.ndarray:
    """Scale factors ``c`` with ``2 <= c <= 4`` or ``1/4 <= c <= 1/2``: clearly not 1."""
    mag = np.exp(rng.uniform(np.log(2.0), np.log(4.0), size=count))
    return np.where(rng.random(count) < 0.5, mag, 1.0 / mag)


class TransformedEnsemble(Ensemble):
    """``base`` seen in the coordinates ``h' = G h + c`` (per member ``G [E, H, H]``, optional
    ``offset`` c ``[E, H]``, default 0); see the module doc. ``weights_of``: the ensemble whose
    weights ``params`` show (default: ``base``; see :class:`StateMapEnsemble`).

    Task and probe set are the base's, and so are outputs and losses unless :meth:`map_outputs`
    hands the outputs elsewhere; ``trajectories()``, ``run()`` rates and ``params`` (and
    ``initial_params``) are transformed (the params by ``G`` only: an offset moves
    the recorded states, which the weights of a tanh network cannot express). ``subset``/
    ``with_params`` stay in the transformed view (``with_params`` maps the new weights back to the
    base basis first); a view that shows ``weights_of``'s weights gives new weights as the plain
    network they are (behaviour_ood's weight-noise probe runs the weights it is shown).
    """

    def __init__(self, base: Ensemble, G: np.ndarray, *, offset: np.ndarray | None = None,
                 name: str | None = None, weights_of: Ensemble | None = None) -> None:
        G = np.asarray(G, dtype=np.float64)
        H = base.architecture.hidden
        if G.shape != (len(base), H, H):
            raise InvalidParameterError(f"TransformedEnsemble: G has shape {G.shape}")
        c = np.zeros((len(base), H)) if offset is None else np.asarray(offset, dtype=np.float64)
        if c.shape != (len(base), H):
            raise InvalidParameterError(f"TransformedEnsemble: offset has shape {c.shape}")
        super().__init__(
            task=base.task, architecture=base.architecture, probe_inputs=base.probe_inputs,
            probe_targets=base.probe_targets, params=change_of_basis((weights_of or base).params, G),
            members={k: v.copy() for k, v in base.members.items()},
            provenance=dict(base.provenance), name=name or base.name,
        )
        self._base = base
        self._G = G
        self._offset = c
        self._weights_of = weights_of
        initial = initial_or_none(weights_of or base)
        self._initial = change_of_basis(initial, G) if initial is not None else None

    @property
    def initial_params(self) -> Params:
        if self._initial is None:
            raise InvalidParameterError(f"{self.name}: this in-memory ensemble has no initial weights")
        return self._initial

    def rotate(self, rates: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        """``G h + c`` for rates ``[E, ..., H]`` of the base's members (or of ``members``)."""
        G = self._G if members is None else self._G[members]
        c = self._offset if members is None else self._offset[members]
        moved = np.einsum("ehk,e...k->e...h", G, rates.astype(np.float64))
        moved += c.reshape(c.shape[0], *([1] * (rates.ndim - 2)), c.shape[1])
        return moved.astype(rates.dtype)

    def relabel(self, S: np.ndarray) -> TransformedEnsemble:
        """The same view followed by ``h'' = S h'`` (``S [E, H, H]``, e.g. signed permutations)."""
        return TransformedEnsemble(self._base, S @ self._G, offset=np.einsum("ehk,ek->eh", S, self._offset),
                                   name=self.name, weights_of=self._weights_of)

    def map_outputs(self, outputs: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        """The outputs ``[E, trials, steps, O]`` the view shows for the base's (of ``members``): the
        base's own, unless a view hands them elsewhere."""
        return outputs

    def run(self, inputs: np.ndarray | None = None, *, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        out, rates = self._base.run(inputs, device=device)
        return self.map_outputs(out), self.rotate(rates)

    def __getitem__(self, index: int) -> Network:
        net = super().__getitem__(index)
        return _TransformedNetwork(self, net.index)

    def __iter__(self) -> Iterator[Network]:
        return (_TransformedNetwork(self, i) for i in range(len(self)))

    def subset(self, indices: Sequence[int] | np.ndarray) -> Ensemble:
        idx = np.asarray(indices, dtype=np.int64)
        return TransformedEnsemble(self._base.subset(idx), self._G[idx], offset=self._offset[idx],
                                   name=self.name, weights_of=self._weights_subset(idx))

    def _weights_subset(self, idx: np.ndarray) -> Ensemble | None:
        return None if self._weights_of is None else self._weights_of.subset(idx)

    def with_params(self, params: Params, *, name: str | None = None) -> Ensemble:
        if self._weights_of is not None:  # the weights shown are real: they run as a plain network
            return from_params(self, params, name or self.name)
        back = change_of_basis(params, np.linalg.inv(self._G))
        return TransformedEnsemble(self._base.with_params(back), self._G, offset=self._offset,
                                   name=name or self.name)


class StateMapEnsemble(TransformedEnsemble):
    """``base`` whose recorded states pass through a fixed map per member (:meth:`map_states`, with
    that member's row of ``data``) before the view ``h' = G h + c``. Outputs are the base's;
    ``params`` are the weights of ``weights_of`` (default: the base) in the view's basis: no
    weights express the map, and a view of a target's own states made into a different solution
    (at the dynamics level, where a metric may read weights) shows another member's."""

    def __init__(self, base: Ensemble, data: np.ndarray, G: np.ndarray | None = None, *,
                 offset: np.ndarray | None = None, name: str | None = None,
                 weights_of: Ensemble | None = None) -> None:
        H = base.architecture.hidden
        G = np.tile(np.eye(H), (len(base), 1, 1)) if G is None else G
        super().__init__(base, G, offset=offset, name=name, weights_of=weights_of)
        self._data = np.asarray(data)

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        """One member's states ``[trials, steps, H]``, mapped."""
        raise NotImplementedError

    def rotate(self, rates: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        data = self._data if members is None else self._data[members]
        trials = rates.reshape(rates.shape[0], -1, *rates.shape[-2:])  # [E, trials, steps, H]
        mapped = np.stack([self.map_states(x, d) for x, d in zip(trials, data, strict=True)])
        return super().rotate(mapped.reshape(rates.shape).astype(rates.dtype), members)

    def relabel(self, S: np.ndarray) -> StateMapEnsemble:
        return type(self)(self._base, self._data, S @ self._G,
                          offset=np.einsum("ehk,ek->eh", S, self._offset), name=self.name,
                          weights_of=self._weights_of)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Ensemble:
        idx = np.asarray(indices, dtype=np.int64)
        return type(self)(self._base.subset(idx), self._data[idx], self._G[idx],
                          offset=self._offset[idx], name=self.name, weights_of=self._weights_subset(idx))

    def with_params(self, params: Params, *, name: str | None = None) -> Ensemble:
        if self._weights_of is None:
            raise InvalidParameterError(f"{self.name}: mapped states have no weights to replace")
        return super().with_params(params, name=name)


class TrialShuffledEnsemble(StateMapEnsemble):
    """Whole trials handed to other trials: trial ``i`` shows the trajectory and the outputs of trial
    ``data[i]`` (a per-member permutation of the probe set's trials, :func:`other_trials`; a seeded
    derangement for another trial count, on any inputs). The same set of trajectories and of output
    sequences, answering other inputs."""

    @staticmethod
    def trial_order(n_trials: int, data: np.ndarray) -> np.ndarray:
        """Which trial each of ``n_trials`` trials shows, for one member's ``data``."""
        if n_trials == len(data):
            return data
        return _derangement(n_trials, np.random.default_rng([int(data[0]), n_trials]))

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        return states[self.trial_order(len(states), data)]

    def map_outputs(self, outputs: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        data = self._data if members is None else self._data[members]
        return np.stack([o[self.trial_order(len(o), d)] for o, d in zip(outputs, data, strict=True)])


def other_trials(inputs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation ``p`` of the trials of ``inputs`` (``[trials, ...]``) with trial ``p[i]``'s
    inputs different from trial ``i``'s wherever that is possible: trials in groups of identical
    inputs, groups in a random order, shifted by the largest group's size."""
    n = len(inputs)
    _, group = np.unique(np.asarray(inputs).reshape(n, -1), axis=0, return_inverse=True)
    group = group.ravel()
    key = rng.permutation(group.max() + 1)[group]
    order = np.lexsort((rng.random(n), key))
    shift = max(1, int(np.bincount(group).max())) if n > 1 else 0
    p = np.empty(n, np.int64)
    p[order] = order[(np.arange(n) + shift) % n]
    return p


class SampleShuffledEnsemble(StateMapEnsemble):
    """States shuffled over their samples (trials and steps, jointly for all units), by a fixed
    permutation per member and sample count drawn from the member's seed ``data``: the same cloud
    of states in another order, so no dynamics left."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        x = states.reshape(-1, states.shape[-1])
        return x[np.random.default_rng([int(data), len(x)]).permutation(len(x))].reshape(states.shape)


class UnitHistoriesEnsemble(StateMapEnsemble):
    """Each unit showing its own trajectories from other trials, chosen for it alone (a derangement
    of the trials per unit, fixed per member and shape, drawn from the member's seed ``data``):
    every unit's own history is intact, but the units no longer move together."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        n, H = len(states), states.shape[-1]
        rng = np.random.default_rng([int(data), n, H])
        perms = np.stack([_derangement(n, rng) for _ in range(H)], axis=1)  # [trials, H]
        return np.take_along_axis(states, perms[:, None, :], axis=0)


class SampleRelabelledEnsemble(StateMapEnsemble):
    """Every sample (trial and step) with its units relabelled and sign-flipped on its own (fixed
    per member and shape, drawn from the member's seed ``data``): each state keeps every statistic
    that does not know which unit is which (its norm, sorted magnitudes, mean activity), but unit
    ``k`` no longer means the same thing from one sample to the next."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([int(data), *states.shape])
        x = states.reshape(-1, states.shape[-1])
        perms = np.argsort(rng.random(x.shape), axis=1)
        signs = np.where(rng.random(x.shape) < 0.5, -1.0, 1.0)
        return (np.take_along_axis(x, perms, axis=1) * signs).reshape(states.shape)


class TrialFramesEnsemble(StateMapEnsemble):
    """Every trial's trajectory turned by its own random rotation (a Haar-orthogonal matrix per
    trial, fixed per member and shape, drawn from the member's seed ``data``): each trajectory keeps
    its whole geometry (speeds, norms, distances and angles between its states, recurrences), but
    no one flow field moves all trials."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([int(data), *states.shape])
        Q = random_orthogonal(states.shape[-1], len(states), rng)  # [trials, H, H]
        return np.einsum("nhk,n...k->n...h", Q, np.asarray(states, np.float64))


class StepFramesEnsemble(StateMapEnsemble):
    """Every time step's states turned by its own random rotation, the same for all trials (a
    Haar-orthogonal matrix per step, fixed per member and shape, drawn from the member's seed
    ``data``): the states of each step keep their whole geometry across trials (distances, angles,
    linear decodability of anything), but no one flow field carries them from step to step."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([int(data), *states.shape, 1])
        Q = random_orthogonal(states.shape[-1], states.shape[1], rng)  # [steps, H, H]
        return np.einsum("thk,ntk->nth", Q, np.asarray(states, np.float64))


class MarginalsEnsemble(StateMapEnsemble):
    """Each unit's states replaced, in their own rank order, by the sorted values ``data[k]``
    (``[H, N]``, from :func:`marginal_values`; their quantiles for another sample count)."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        x = states.reshape(-1, states.shape[-1])
        n = len(x)
        values = data.T if n == data.shape[-1] else np.quantile(data, np.linspace(0.0, 1.0, n), axis=1)
        out = np.empty(x.shape)
        np.put_along_axis(out, np.argsort(x, axis=0, kind="stable"), values, axis=0)
        return out.reshape(states.shape)


def marginal_values(states: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[H, N]``: for each unit of ``states`` (``[..., H]``), the sorted values of the target's unit
    of the same rank by variance, so that unit ``k`` takes exactly one target unit's distribution."""
    x = np.asarray(states).reshape(-1, states.shape[-1])
    y = np.asarray(target).reshape(-1, target.shape[-1])
    pair = np.empty(x.shape[1], np.int64)
    pair[np.argsort(x.var(axis=0), kind="stable")] = np.argsort(y.var(axis=0), kind="stable")
    return np.sort(y, axis=0).T[pair]


class ProbeStatesEnsemble(StateMapEnsemble):
    """Members showing given states ``data`` (``[E, trials, steps, H]``) on the probe set, for a
    construction that needs the probe set's task variables, which no map of the states alone
    knows. Only the probe set's states exist: another input raises."""

    def map_states(self, states: np.ndarray, data: np.ndarray) -> np.ndarray:
        if states.shape != data.shape:
            raise InvalidParameterError(f"{self.name}: its states exist on the probe set only "
                                        f"({data.shape}), not for inputs giving {states.shape}")
        return data


def task_variables(ens: Ensemble) -> np.ndarray:
    """``[trials * steps, k]``: every input and target channel of the probe set at each sample,
    standardised; channels that never vary are left out."""
    z = np.concatenate([ens.probe_inputs, ens.probe_targets], axis=-1).astype(np.float64)
    z = z.reshape(-1, z.shape[-1])
    z = z - z.mean(axis=0)
    sd = z.std(axis=0)
    keep = sd > 1e-12 * max(float(sd.max(initial=0.0)), 1e-300)
    return z[:, keep] / sd[keep]


def _standardised(states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[samples, H]`` states with zero mean and unit variance per unit, and those means and SDs."""
    x = np.asarray(states, np.float64).reshape(-1, states.shape[-1])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    return (x - mu) / np.where(sd > 0, sd, 1.0), mu, sd


def tuned_fraction(states: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``[H]``: the fraction of each unit's variance that the task variables ``z`` explain linearly
    (R² of its least-squares tuning)."""
    u, _, _ = _standardised(states)
    beta, *_ = np.linalg.lstsq(z, u, rcond=None)
    return 1.0 - ((u - z @ beta) ** 2).mean(axis=0)


def tuning_matched(states: np.ndarray, target: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``states`` (one member, ``[..., H]``) given the target's tuning: each unit is paired with a
    target unit of similar |tuning| (an assignment on the |correlations| with the task variables
    ``z``) and takes that unit's |correlation| with every task variable, keeping its own signs,
    and that unit's mean and variance.

    Unit j's standardised states ``u = z β + r`` (``r`` uncorrelated with ``z``) become
    ``z β' + s r`` with ``β' = R_zz⁻¹ c'`` for the wanted correlations ``c'`` and ``s`` restoring unit
    variance: exact wherever ``c'`` is a possible correlation profile (``c'ᵀ R_zz⁻¹ c' < 1``; otherwise
    it is shrunk until it is). The source's residual activity and sign structure stay: another
    solution, where units carry activity that the task variables do not explain."""
    u, _, _ = _standardised(states)
    v, mu_t, sd_t = _standardised(target)
    n = len(u)
    c_src, c_tgt = u.T @ z / n, v.T @ z / n  # [H, k]
    _, pair = linear_sum_assignment(np.abs(np.abs(c_src)[:, None, :] - np.abs(c_tgt)[None]).sum(axis=-1))
    wanted = np.where(c_src < 0, -1.0, 1.0) * np.abs(c_tgt[pair])
    Rinv = np.linalg.pinv(z.T @ z / n)
    explained = np.einsum("hk,kl,hl->h", wanted, Rinv, wanted)
    shrink = np.where(explained > 0.999, np.sqrt(0.999 / np.maximum(explained, 1e-300)), 1.0)
    wanted, explained = wanted * shrink[:, None], explained * shrink**2
    resid = u - z @ (c_src @ Rinv).T
    spread = np.sqrt((resid**2).mean(axis=0))
    scale = np.sqrt(np.clip(1.0 - explained, 0.0, None)) / np.where(spread > 0, spread, 1.0)
    tuned = z @ (wanted @ Rinv).T + resid * scale
    return (mu_t[pair] + tuned * sd_t[pair]).reshape(states.shape)


class _TransformedNetwork(Network):
    def run(self, inputs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        ens: TransformedEnsemble = self.ensemble  # type: ignore[assignment]
        out, rates = ens._base[self.index].run(inputs)
        member = np.array([self.index])
        return ens.map_outputs(out[None], member)[0], ens.rotate(rates[None], member)[0]


def make_twin(ens: Ensemble, kind: str, rng: np.random.Generator) -> Ensemble:
    """A twin of every member of ``ens`` under ``kind`` (one of :data:`TWIN_KINDS`)."""
    E, H = len(ens), ens.architecture.hidden
    if kind in ("permutation", "sign_flip"):
        if kind == "permutation":
            perms = np.stack([_derangement(H, rng) for _ in range(E)])
            signs = np.ones((E, H))
        else:
            perms = np.tile(np.arange(H), (E, 1))
            signs = _random_signs(E, H, rng)
        params = signed_permutation(ens.params, perms, signs)
        initial = initial_or_none(ens)
        return Ensemble.from_arrays(
            params, ens.architecture, ens.task, ens.probe_inputs, ens.probe_targets,
            initial_params=signed_permutation(initial, perms, signs) if initial is not None else None,
            name=f"{ens.name}~{kind}",
        )
    if kind == "orthogonal":
        return TransformedEnsemble(ens, random_orthogonal(H, E, rng), name=f"{ens.name}~{kind}")
    if kind == "scale":
        G = random_scales(E, rng)[:, None, None] * np.eye(H)[None]
        return TransformedEnsemble(ens, G, name=f"{ens.name}~{kind}")
    raise InvalidParameterError(f"unknown twin kind {kind!r}; one of {TWIN_KINDS}")


def equivalent(ens: Ensemble, kinds: Sequence[str], rng: np.random.Generator) -> Ensemble:
    """Every member under all of ``kinds`` at once (units relabelled and sign-flipped, states seen
    in a random orthogonal basis and at another scale, as claimed): the same solution for a metric
    that claims those invariances, in one ensemble."""
    E, H = len(ens), ens.architecture.hidden
    kinds = set(kinds)
    out = ens
    if kinds & {"permutation", "sign_flip"}:
        perms = (np.stack([_derangement(H, rng) for _ in range(E)]) if "permutation" in kinds
                 else np.tile(np.arange(H), (E, 1)))
        signs = _random_signs(E, H, rng) if "sign_flip" in kinds else np.ones((E, H))
        out = from_params(ens, signed_permutation(ens.params, perms, signs), f"{ens.name}~equivalent")
    if kinds & {"orthogonal", "scale"}:
        G = random_orthogonal(H, E, rng) if "orthogonal" in kinds else np.tile(np.eye(H), (E, 1, 1))
        if "scale" in kinds:
            G = G * random_scales(E, rng)[:, None, None]
        out = TransformedEnsemble(out, G, name=f"{ens.name}~equivalent")
    return out


def relabelled(ens: Ensemble, rng: np.random.Generator) -> Ensemble:
    """Every member with its units relabelled by its own random permutation and about half of them
    sign-flipped: exactly the same solutions, with no unit identity left (unit ``i`` of one member
    says nothing about unit ``i`` of another). Initial weights, member records and provenance
    follow; a :class:`TransformedEnsemble` keeps its view, relabelled after it."""
    E, H = len(ens), ens.architecture.hidden
    perms = np.stack([rng.permutation(H) for _ in range(E)]) if E else np.zeros((0, H), np.int64)
    signs = np.where(rng.random((E, H)) < 0.5, -1.0, 1.0)
    if isinstance(ens, TransformedEnsemble):
        S = np.zeros((E, H, H))
        S[np.arange(E)[:, None], np.arange(H)[None, :], perms] = signs
        return ens.relabel(S)
    initial = initial_or_none(ens)
    out = Ensemble.from_arrays(
        signed_permutation(ens.params, perms, signs), ens.architecture, ens.task, ens.probe_inputs,
        ens.probe_targets, name=ens.name,
        initial_params=signed_permutation(initial, perms, signs) if initial is not None else None)
    out.members = dict(ens.members)
    out.provenance = dict(ens.provenance)
    return out


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation that moves every unit (when n > 1)."""
    if n < 2:
        return np.arange(n)
    while True:
        p = rng.permutation(n)
        if not np.any(p == np.arange(n)):
            return p


def _random_signs(E: int, H: int, rng: np.random.Generator) -> np.ndarray:
    """±1 with about half the units flipped, at least one flipped per member."""
    s = np.where(rng.random((E, H)) < 0.5, -1.0, 1.0)
    s[np.all(s > 0, axis=1), 0] = -1.0
    return s


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))) if np.size(x) else 0.0


def perturb(member: Params, levels: Sequence[float], rng: np.random.Generator, *,
            keep_norm: bool = False) -> Params:
    """One copy of a single member's weights per noise level, stacked ``[L, ...]``.

    Each parameter ``X`` gets ``level · rms(X) · N(0, 1)`` noise, so the level is relative noise.
    The noise direction is shared across levels (one draw, scaled), so the copies lie on one ray.
    With ``keep_norm`` every noisy parameter is rescaled back to its original norm, so the copies
    differ from the member more and more at the same size (a ladder that scale cannot follow).
    """
    out: Params = {}
    for k in PARAM_NAMES:
        x = np.asarray(member[k])
        z = rng.standard_normal(x.shape)
        scale = rms(x)
        copies = []
        for lv in levels:
            y = x.astype(np.float64) + lv * scale * z
            if keep_norm and rms(y) > 0:
                y *= scale / rms(y)
            copies.append(y.astype(x.dtype))
        out[k] = np.stack(copies)
    return out


def interpolate(a: Params, b: Params, alphas: Sequence[float]) -> Params:
    """``(1 − α) a + α b`` for every α, stacked ``[L, ...]``."""
    return {k: np.stack([((1 - t) * np.asarray(a[k], np.float64) + t * np.asarray(b[k], np.float64))
                         .astype(np.asarray(a[k]).dtype) for t in alphas]) for k in PARAM_NAMES}


def member(ens: Ensemble, i: int) -> Params:
    return {k: np.asarray(v[i]) for k, v in ens.params.items()}


def from_params(ens: Ensemble, params: Params, name: str) -> Ensemble:
    """An in-memory ensemble of ``params`` with ``ens``'s task, architecture and probe set."""
    return Ensemble.from_arrays(params, ens.architecture, ens.task, ens.probe_inputs,
                                ens.probe_targets, name=name)


def with_probe(ens: Ensemble, n: int, seed: int) -> Ensemble:
    """The same networks with another probe set: ``task.probe(n, seed)``."""
    inputs, targets = ens.task.probe(n=n, seed=seed)
    return Ensemble.from_arrays(ens.params, ens.architecture, ens.task, inputs, targets,
                                initial_params=initial_or_none(ens), name=f"{ens.name}@probe{seed}")


def describe_twins() -> dict[str, Any]:
    """How each twin is made (recorded in the conformance details)."""
    return {
        "permutation": "units relabelled by a random derangement (exact functional copy)",
        "sign_flip": "about half the units sign-flipped: W_hh row+column, W_in row, b entry, "
                     "W_out column (exact copy of a tanh network)",
        "orthogonal": "states recorded in a random orthogonal basis G: trajectories G h, weights "
                      "G W_hh Gᵀ, G W_in, G b, W_out Gᵀ; outputs unchanged",
        "scale": "states recorded scaled by c in [1/4, 1/2] or [2, 4]: trajectories c h, weights "
                 "W_hh, c W_in, c b, W_out / c; outputs unchanged",
    }


# --------------------------------------------------------------------------------------------
# Different solutions that share a network's cheap statistics: ground truth no summary can fake
# --------------------------------------------------------------------------------------------

#: The permutation-invariant statistics that a "different solution" is made to share with its
#: target, per level a metric reads (:func:`matched_ensemble`). Each is one ground truth: a metric
#: that reads only that statistic puts the matched network at distance 0 from its target, which the
#: conformance suite (``definite``) and the calibration suite (``confound_auroc``) catch. Most are
#: another member brought to one statistic of the target, so a reader of *several* of them escapes
#: each. The target's own weights or states rearranged keep whole families of statistics exactly,
#: any combination of them included: ``wiring`` (W_hh's columns relabelled), ``trial_pairing``
#: (trajectories handed to other trials), ``sample_order`` (states shuffled over samples),
#: ``unit_histories`` (each unit's trajectories from other trials), ``trial_frames`` (each trial
#: rotated on its own), ``step_frames`` (each time step rotated on its own) and
#: ``sample_relabelling`` (units relabelled sample by sample); at the dynamics level these views
#: show another member's weights, and so does ``trial_pairing`` at the behaviour level, where the
#: target's outputs are handed to other trials' inputs.
MATCHED_STATISTICS: dict[str, tuple[str, ...]] = {
    "weights": ("spectrum", "entries", "degrees", "eigenvalues", "wiring"),
    "dynamics": ("moments", "marginals", "sample_order", "sample_relabelling", "unit_histories", "lyapunov",
                 "fixed_points", "dmd_spectrum", "tuning", "trial_frames", "step_frames", "eigenvalues",
                 "wiring"),
    "representation": ("moments", "marginals", "trial_pairing", "sample_relabelling", "tuning"),
    "behaviour": ("output_rms", "io_wiring", "trial_pairing"),
}

#: How each matched network is made, and what it rules out (result details and docs).
MATCHED_HOW: dict[str, str] = {
    "spectrum": "another member with W_hh = U diag(σ_target) Vᵀ (its own singular vectors, the target's "
                "singular values) and W_in, b, W_out rescaled to the target's norms: rules out sizes, "
                "norms and the singular-value spectrum",
    "entries": "another member whose every weight array holds exactly the target's multiset of values, "
               "placed in the member's own rank order (its wiring): rules out weight histograms, "
               "magnitude and sign distributions, sparsity and norms",
    "degrees": "another member's W_hh scaled row by row and column by column (Sinkhorn on the squared "
               "entries) to the target's in- and out-strength profiles (row and column norms, each set "
               "placed in the member's rank order), other weights at the target's norms: rules out "
               "degree and strength profiles",
    "all": "spectrum, degrees and entries imposed in turn, 8 rounds, ending with the entries (exact): "
           "one network that shares all three of the target's weight statistics (planted families)",
    "eigenvalues": "the target in a skewed basis h -> M h, M = O D (O random orthogonal, D diagonal with "
                   "entries log-uniform in [1/2, 2]): W_hh -> M W_hh M⁻¹, W_in -> M W_in, b -> M b, "
                   "W_out -> W_out M⁻¹ keep every eigenvalue of W_hh (and the linearised input-output "
                   "map), yet are other weights: rules out eigenvalue spectra",
    "wiring": "the target with every unit's outgoing weights (its column of W_hh and of W_out) handed "
              "to another unit (a random derangement): exactly the target's weight values, singular "
              "values, in- and out-degree profiles, but another recurrent wiring: rules out every "
              "statistic of W_hh read as a bipartite graph, alone or combined (histograms, spectrum, "
              "degrees)",
    "io_wiring": "the target with W_hh unchanged and every unit's input weights and bias (its row of "
                 "W_in and b) handed to another unit, its readout weights (its column of W_out) to "
                 "another (independent random derangements): each weight array alone is the target's "
                 "up to relabelling, so every statistic of the weights read array by array is, but the "
                 "network behaves otherwise: rules out readings of the weights at the behaviour level",
    "trial_pairing": "the target's own trajectories handed to other trials (a derangement of the trials): "
                     "the same set of trajectories, so every statistic of the activity that does not ask "
                     "which trial answered which input is the target's (per-unit distributions, moments, "
                     "spectrum, time courses and autocorrelations averaged over trials, any combination), "
                     "but another map from inputs to states: rules out every input-blind summary (at the "
                     "behaviour level, on any inputs: each trial shows the target's output sequence for "
                     "another trial's inputs, with another member's weights; every input-blind summary of "
                     "the outputs, their histogram, RMS, spectrum or time course, is the target's)",
    "sample_order": "the target's own states shuffled over their samples (trials and steps, jointly over the "
                    "units), shown with another member's weights: the same cloud of states, so every static "
                    "statistic of the activity, alone or combined, is the target's, but no dynamics are left "
                    "(at the dynamics level, where trajectories handed to other trials would be the same "
                    "dynamics): rules out every static summary of the states",
    "unit_histories": "the target's units each showing their own trajectories from other trials, chosen unit "
                      "by unit (shown with another member's weights): every unit's own history (its "
                      "distribution, time course, autocorrelations) is the target's, but the units no "
                      "longer move together: rules out per-unit summaries of the dynamics",
    "sample_relabelling": "the target's states with the units of every sample (trial and step) relabelled "
                          "and sign-flipped on their own: every state keeps its norm, sorted magnitudes "
                          "and mean activity, so any per-sample statistic blind to unit identity is the "
                          "target's, but no unit means the same thing across samples: rules out "
                          "per-input summaries of the population activity (at the dynamics level shown "
                          "with another member's weights)",
    "trial_frames": "the target's trajectories, each trial turned by its own random rotation (shown with "
                    "another member's weights): every trajectory keeps its geometry (speeds, norms, "
                    "distances and angles between its states, recurrence plots), so any summary of single "
                    "trajectories blind to their orientation is the target's, but no one flow field moves "
                    "all trials: rules out summaries of trajectory geometry (at the dynamics level, where "
                    "trajectories handed to other trials would be the same dynamics)",
    "step_frames": "the target's states, each time step turned by its own random rotation, the same for all "
                   "trials (shown with another member's weights): the states of every step keep their "
                   "geometry across trials (distances, angles, dimensionality, how well a linear read-out "
                   "decodes any task variable), so any time-resolved summary of the population is the "
                   "target's, but no one flow field carries the states from one step to the next: rules "
                   "out step-by-step summaries (decoding curves, time-resolved geometry) at the dynamics "
                   "level",
    "marginals": "another member's states with each unit's values replaced, in their own rank order, by "
                 "those of the target's unit of the same rank by variance: exactly the target's per-unit "
                 "distributions (means, variances, skew, kurtosis, histograms, sparsity of activity) on "
                 "another solution's states: rules out per-unit activity statistics",
    "tuning": "another member's states with each unit paired with a unit of the target of similar |tuning| "
              "and given that unit's |correlation| with every input and target channel of the probe set "
              "(keeping its own signs: its least-squares tuning replaced, its residual activity rescaled "
              "to unit variance) and its mean and variance: exactly the target's per-unit |tuning| "
              "vectors (selectivity profiles, any distribution of them) and per-unit moments on another "
              "solution's activity, built on the release's condition whose units the task variables explain "
              "least: rules out distributions of tuning",
    "moments": "another member's states seen through the affine map x -> G (x - mu_s) + mu_t with the "
               "target's mean and covariance on the probe set: rules out per-unit means and variances, "
               "the activity spectrum, participation ratio and RMS",
    "output_rms": "another member with its readout rescaled to the target's output RMS on the probe set",
    "lyapunov": "another member fine-tuned on its task while a second loss pulls its finite-time Lyapunov "
                "spectrum along the probe trajectories onto the target's (lyapunov_spectrum's embedding): "
                "a converged different solution, in DSA as far from the target as that member was, with the "
                "target's Lyapunov spectrum (no transform of a tanh network but its symmetries keeps it): "
                "rules out Lyapunov spectra",
    "fixed_points": "another member fine-tuned on its task while a second loss pulls the Jacobian "
                    "eigenvalues at its fixed points onto the target's (fixed_point_spectrum's distance): "
                    "a converged different solution, in DSA at least as far from the target as that member "
                    "was, with the target's fixed-point spectrum: rules out fixed-point spectra",
    "dmd_spectrum": "another member fine-tuned on its task while a second loss pulls the eigenvalues of the "
                    "DMD operator fitted to its probe trajectories onto the target's (dsa_wasserstein's "
                    "score): a converged different solution with the target's DMD spectrum but other "
                    "eigenvectors, in DSA many near-twins away from the target: rules out DMD spectra",
}


#: Matched statistics built on another condition than the suites' home one: the release's least
#: tuned (:func:`least_tuned_condition`). Where a unit's states are nearly a linear function of the
#: task's inputs and targets (flip-flop: R² median 0.97), a network given another's tuning *is* that
#: network, so the tuning of a different solution can only be matched where units carry activity
#: that the task variables do not explain.
ELSEWHERE: frozenset[str] = frozenset({"tuning"})

#: Where even the least tuned condition's median R² is above this, no different solution can share
#: a member's tuning on that release (its units are nearly linear in the task variables), and the
#: ``tuning`` statistic is not built there (recorded as skipped, neither passed nor failed).
MAX_TUNED_FRACTION = 0.9


def least_tuned_condition(ensembles: Mapping[str, Ensemble]) -> tuple[str, dict[str, float]]:
    """The condition whose units the task variables explain least (the median R² of
    :func:`tuned_fraction` over its members and their units, rounded to 3 decimals, ties broken by
    name), and that median for every condition; ``ensembles``: a few members per condition."""
    r2 = {}
    for cond, ens in ensembles.items():
        z = task_variables(ens)
        r2[cond] = round(float(np.median([tuned_fraction(x, z) for x in ens.trajectories()])), 3)
    return min(sorted(r2), key=r2.__getitem__), r2


def matched_statistics(level: str | None) -> tuple[str, ...]:
    """The cheap statistics a different solution is made to share at ``level`` (dynamics by default)."""
    return MATCHED_STATISTICS.get(level or "", MATCHED_STATISTICS["dynamics"])


def match_spectrum(source: Params, target: Params) -> Params:
    """``source``'s network brought to ``target``'s size and recurrent spectrum (one member each).

    ``W_hh = U_s diag(σ_t) V_sᵀ`` keeps the source's singular vectors (its connectivity) with the
    target's singular values, so the two recurrent matrices have equal norm and equal singular
    values; ``W_in``, ``b``, ``W_out`` are rescaled to the target's Frobenius norms, ``b_out`` is
    the target's. The result is a different network from ``target`` at the weights level by
    construction, yet every norm and the recurrent spectrum are the target's.
    """
    W = np.asarray(source["W_hh"], np.float64)
    u, _, vt = np.linalg.svd(W)
    sigma_t = np.linalg.svd(np.asarray(target["W_hh"], np.float64), compute_uv=False)
    out = _norms_matched(source, target)
    out["W_hh"] = ((u * sigma_t) @ vt).astype(np.asarray(source["W_hh"]).dtype)
    return out


def _norms_matched(source: Params, target: Params) -> Params:
    """``W_in``, ``b``, ``W_out`` of the source at the target's Frobenius norms, the target's ``b_out``
    (``W_hh`` left as the source's, for the caller to set)."""
    out: Params = {"W_hh": np.asarray(source["W_hh"]).copy()}
    for k in ("W_in", "b", "W_out"):
        x = np.asarray(source[k], np.float64)
        ns, nt = np.linalg.norm(x), np.linalg.norm(np.asarray(target[k], np.float64))
        out[k] = (x * (nt / ns if ns > 0 else 1.0)).astype(np.asarray(source[k]).dtype)
    out["b_out"] = np.asarray(target["b_out"]).copy()
    return out


def rank_matched(order_of: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values``' entries placed in the rank order of ``order_of``'s (same shape as ``order_of``):
    its smallest entry gets the smallest value, and so on."""
    x = np.asarray(order_of).ravel()
    out = np.empty(x.size, dtype=np.float64)
    out[np.argsort(x, kind="stable")] = np.sort(np.asarray(values, np.float64).ravel())
    return out.reshape(np.shape(order_of))


def match_entries(source: Params, target: Params) -> Params:
    """Every array of ``source`` holding exactly ``target``'s multiset of values, in the source's
    rank order: same histogram, same norms, the source's wiring."""
    return {k: rank_matched(source[k], target[k]).astype(np.asarray(source[k]).dtype) for k in PARAM_NAMES}


def match_degrees(source: Params, target: Params, iterations: int = 300) -> Params:
    """``source``'s ``W_hh`` with ``target``'s row norms and column norms (each set placed in the
    source's rank order), by alternate row and column scaling of the squared entries (Sinkhorn; a
    dense matrix converges); ``W_in``, ``b``, ``W_out`` at the target's norms."""
    W = np.asarray(source["W_hh"], np.float64).copy()
    T = np.asarray(target["W_hh"], np.float64)
    rows = rank_matched(np.linalg.norm(W, axis=1), np.linalg.norm(T, axis=1))
    cols = rank_matched(np.linalg.norm(W, axis=0), np.linalg.norm(T, axis=0))
    tiny = 1e-300
    for _ in range(iterations):
        W *= (rows / np.maximum(np.linalg.norm(W, axis=1), tiny))[:, None]
        W *= (cols / np.maximum(np.linalg.norm(W, axis=0), tiny))[None, :]
    out = _norms_matched(source, target)
    out["W_hh"] = W.astype(np.asarray(source["W_hh"]).dtype)
    return out


def rewired(target: Params, rng: np.random.Generator) -> Params:
    """``target`` with every unit's outgoing weights (its column of ``W_hh`` and of ``W_out``) handed
    to another unit (a random derangement R: ``W_hh R``, ``W_out R``; ``W_in``, ``b`` unchanged).

    ``W_hh R`` has exactly the target's entries, singular values and row norms, and its column
    norms relabelled, so every statistic of ``W_hh`` read as a bipartite graph (inputs to a unit
    on one side, outputs on the other), alone or combined, is the target's; the recurrent wiring
    (which unit feeds which) is another. Up to relabelling units this is ``P W_hh Qᵀ`` with
    independent permutations of the two sides."""
    H = np.asarray(target["W_hh"]).shape[-1]
    R = _derangement(H, rng)
    out = {k: np.asarray(v).copy() for k, v in target.items()}
    out["W_hh"] = out["W_hh"][:, R]
    out["W_out"] = out["W_out"][:, R]
    return out


def rewired_io(target: Params, rng: np.random.Generator) -> Params:
    """``target`` with ``W_hh`` unchanged and every unit's input weights and bias (its row of ``W_in``
    and ``b``) handed to another unit, its readout weights (its column of ``W_out``) to another
    (independent random derangements).

    Each weight array alone is the target's up to relabelling its units, so every statistic of
    one array, all of ``W_hh``'s together included, is the target's; which units the inputs drive
    and the readout reads is another, and so is the behaviour."""
    H = np.asarray(target["W_hh"]).shape[-1]
    R_in, R_out = _derangement(H, rng), _derangement(H, rng)
    out = {k: np.asarray(v).copy() for k, v in target.items()}
    out["W_in"], out["b"] = out["W_in"][R_in], out["b"][R_in]
    out["W_out"] = out["W_out"][:, R_out]
    return out


def match_all(source: Params, target: Params, rounds: int = 8) -> Params:
    """Spectrum, degrees and entries of ``target`` imposed on ``source`` in turn, ``rounds`` times,
    ending with the entries (exact); the spectrum and degree profiles come close."""
    p = source
    for _ in range(rounds):
        p = match_entries(match_degrees(match_spectrum(p, target), target, iterations=50), target)
    return p


_REWIRINGS = {"wiring": rewired, "io_wiring": rewired_io}

_WEIGHT_MATCHES = {"spectrum": match_spectrum, "entries": match_entries, "degrees": match_degrees,
                   "all": match_all}


def moment_map(states: np.ndarray, target: np.ndarray, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """``(G [H, H], c [H])`` with ``G x + c`` having the target's mean and covariance, for the
    states ``x`` of one network and ``target`` of another (``[..., H]`` each).

    ``G = U_t √(Λ_t/Λ_s) U_sᵀ`` (covariance eigen-decompositions, descending), ``c = μ_t − G μ_s``.
    Source directions with variance below ``floor`` × the largest keep gain 1 (a direction the
    network never moves in cannot be matched; it carries no variance).
    """
    def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
        mu = x.mean(axis=0)
        xc = x - mu
        lam, vec = np.linalg.eigh(xc.T @ xc / x.shape[0])
        return mu, np.clip(lam[::-1], 0.0, None), vec[:, ::-1]

    mu_s, lam_s, u_s = moments(states)
    mu_t, lam_t, u_t = moments(target)
    ok = lam_s > floor * max(lam_s[0], 1e-300)
    gain = np.where(ok, np.sqrt(lam_t / np.where(ok, lam_s, 1.0)), 1.0)
    G = (u_t * gain) @ u_s.T
    return G, mu_t - G @ mu_s


def skew_bases(n: int, targets: np.ndarray) -> np.ndarray:
    """``M = O D`` per target, ``[len(targets), n, n]``: ``O`` Haar-orthogonal, ``D`` diagonal with
    entries log-uniform in [1/2, 2], drawn from a stream keyed on the target's index (reproducible)."""
    out = np.empty((len(targets), n, n))
    for k, t in enumerate(targets):
        rng = np.random.default_rng([20261206, int(t)])
        d = np.exp(rng.uniform(-np.log(2.0), np.log(2.0), size=n))
        out[k] = random_orthogonal(n, 1, rng)[0] * d[None, :]
    return out


#: The views of a target's own states (its ``data``: a seed per member) by matched statistic.
_STATE_VIEWS: dict[str, type[StateMapEnsemble]] = {
    "sample_relabelling": SampleRelabelledEnsemble, "sample_order": SampleShuffledEnsemble,
    "unit_histories": UnitHistoriesEnsemble, "trial_frames": TrialFramesEnsemble,
    "step_frames": StepFramesEnsemble,
}


def matched_ensemble(ens: Ensemble, sources: Sequence[int], targets: Sequence[int], level: str | None,
                     *, statistic: str | None = None, name: str, progress: bool = True) -> Ensemble:
    """Member ``sources[k]`` of ``ens`` made to share ``statistic`` with member ``targets[k]``, for
    every k (:data:`MATCHED_HOW` says how; default: the first of :data:`MATCHED_STATISTICS` for
    ``level``, which defaults to dynamics). Each result is a different solution from its target by
    construction, with the target's value of that statistic. The rearrangements of a target's own
    weights or states (``wiring``, ``trial_pairing``, ...) use ``sources[k]`` only for the weights
    a dynamics-level view shows. ``progress``: a bar while networks are trained (the trained
    statistics, :mod:`degzoo.benchmark.trained_matches`).
    """
    src, tgt = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
    statistic = statistic or matched_statistics(level)[0]
    if statistic in _WEIGHT_MATCHES:
        match = _WEIGHT_MATCHES[statistic]
        mats = [match(member(ens, int(s)), member(ens, int(t))) for s, t in zip(src, tgt, strict=True)]
        return from_params(ens, {k: np.stack([m[k] for m in mats]) for k in PARAM_NAMES}, name)
    if statistic == "output_rms":
        out, _ = ens.run()
        params = {k: np.asarray(v)[src].copy() for k, v in ens.params.items()}
        c = np.array([rms(out[t]) / max(rms(out[s]), 1e-12) for s, t in zip(src, tgt, strict=True)])
        params["W_out"] = (params["W_out"] * c[:, None, None]).astype(params["W_out"].dtype)
        params["b_out"] = (params["b_out"] * c[:, None]).astype(params["b_out"].dtype)
        return from_params(ens, params, name)
    if statistic == "eigenvalues":
        M = skew_bases(ens.architecture.hidden, tgt)
        return from_params(ens, change_of_basis(ens.subset(tgt).params, M), name)
    if statistic in _REWIRINGS:
        rewire = _REWIRINGS[statistic]
        mats = [rewire(member(ens, int(t)), np.random.default_rng([20261207, int(t)])) for t in tgt]
        return from_params(ens, {k: np.stack([m[k] for m in mats]) for k in PARAM_NAMES}, name)
    if statistic == "marginals":
        states = ens.trajectories()
        values = np.stack([marginal_values(states[s], states[t]) for s, t in zip(src, tgt, strict=True)])
        return MarginalsEnsemble(ens.subset(src), values, name=name)
    if statistic == "tuning":
        states, z = ens.trajectories(), task_variables(ens)
        tuned = np.stack([tuning_matched(states[s], states[t], z) for s, t in zip(src, tgt, strict=True)])
        return ProbeStatesEnsemble(ens.subset(src), tuned, name=name)
    if statistic == "trial_pairing":
        perms = [other_trials(ens.probe_inputs, np.random.default_rng([20261207, int(t)])) for t in tgt]
        # at the behaviour level the outputs are handed over too, with another member's weights shown
        # (a metric that runs the weights itself meets another solution, as one that runs the view does)
        weights_of = ens.subset(src) if level == "behaviour" else None
        return TrialShuffledEnsemble(ens.subset(tgt), np.stack(perms), name=name, weights_of=weights_of)
    if statistic in _STATE_VIEWS:
        # at the dynamics level the view shows another member's weights: a different solution for a
        # metric that reads them, as the states are for one that reads trajectories
        view = _STATE_VIEWS[statistic]
        seeds = np.array([20261207 * 1000 + int(t) for t in tgt])
        weights_of = ens.subset(src) if level == "dynamics" else None
        return view(ens.subset(tgt), seeds, name=name, weights_of=weights_of)
    if statistic in TRAINED_STATISTICS:
        mats, _ = trained_matches([member(ens, int(s)) for s in src], [member(ens, int(t)) for t in tgt],
                                  statistic, ens.architecture, ens.task, ens.probe_inputs, progress=progress)
        return from_params(ens, {k: np.stack([m[k] for m in mats]) for k in PARAM_NAMES}, name)
    if statistic == "moments":
        states = ens.trajectories()
        maps = [moment_map(states[s], states[t]) for s, t in zip(src, tgt, strict=True)]
        return TransformedEnsemble(ens.subset(src), np.stack([g for g, _ in maps]),
                                   offset=np.stack([c for _, c in maps]), name=name)
    raise InvalidParameterError(f"unknown matched statistic {statistic!r}; one of {sorted(MATCHED_HOW)}")


def shuffled(ens: Ensemble, rng: np.random.Generator) -> tuple[Ensemble, np.ndarray]:
    """``ens`` with its members in a random order in which none keeps its position, and ``order``
    (member k of the result is ``order[k]``): a metric must not depend on where a network sits."""
    order = _derangement(len(ens), rng)
    return ens.subset(order), order
