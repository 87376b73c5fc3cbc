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

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

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
    """``base`` seen in the coordinates ``h' = G h`` (per member ``G [E, H, H]``); see the module doc.

    Outputs, losses, task, probe set are the base's; ``trajectories()``, ``run()`` rates and
    ``params`` (and ``initial_params``) are transformed. ``subset``/``with_params`` stay in the
    transformed view (``with_params`` maps the new weights back to the base basis first).
    """

    def __init__(self, base: Ensemble, G: np.ndarray, *, name: str | None = None) -> None:
        G = np.asarray(G, dtype=np.float64)
        if G.shape != (len(base), base.architecture.hidden, base.architecture.hidden):
            raise InvalidParameterError(f"TransformedEnsemble: G has shape {G.shape}")
        super().__init__(
            task=base.task, architecture=base.architecture, probe_inputs=base.probe_inputs,
            probe_targets=base.probe_targets, params=change_of_basis(base.params, G),
            members={k: v.copy() for k, v in base.members.items()},
            provenance=dict(base.provenance), name=name or base.name,
        )
        self._base = base
        self._G = G
        initial = initial_or_none(base)
        self._initial = change_of_basis(initial, G) if initial is not None else None

    @property
    def initial_params(self) -> Params:
        if self._initial is None:
            raise InvalidParameterError(f"{self.name}: this in-memory ensemble has no initial weights")
        return self._initial

    def rotate(self, rates: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        G = self._G if members is None else self._G[members]
        return np.einsum("ehk,e...k->e...h", G, rates.astype(np.float64)).astype(rates.dtype)

    def run(self, inputs: np.ndarray | None = None, *, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        out, rates = self._base.run(inputs, device=device)
        return out, self.rotate(rates)

    def __getitem__(self, index: int) -> Network:
        net = super().__getitem__(index)
        return _TransformedNetwork(self, net.index)

    def __iter__(self) -> Iterator[Network]:
        return (_TransformedNetwork(self, i) for i in range(len(self)))

    def subset(self, indices: Sequence[int] | np.ndarray) -> Ensemble:
        idx = np.asarray(indices, dtype=np.int64)
        return TransformedEnsemble(self._base.subset(idx), self._G[idx], name=self.name)

    def with_params(self, params: Params, *, name: str | None = None) -> Ensemble:
        back = change_of_basis(params, np.linalg.inv(self._G))
        return TransformedEnsemble(self._base.with_params(back), self._G, name=name or self.name)


class _TransformedNetwork(Network):
    def run(self, inputs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        ens: TransformedEnsemble = self.ensemble  # type: ignore[assignment]
        out, rates = ens._base[self.index].run(inputs)
        return out, ens.rotate(rates[None], np.array([self.index]))[0]


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
# Different solutions at the same size: ground truth that a scale or spectrum confound cannot fake
# --------------------------------------------------------------------------------------------


def match_weights(source: Params, target: Params) -> Params:
    """``source``'s network brought to ``target``'s size and recurrent spectrum (one member each).

    ``W_hh = U_s diag(σ_t) V_sᵀ`` keeps the source's singular vectors (its connectivity) with the
    target's singular values, so the two recurrent matrices have equal norm and equal singular
    values; ``W_in``, ``b``, ``W_out`` are rescaled to the target's Frobenius norms, ``b_out`` is
    the target's. The result is a different network from ``target`` at the weights level by
    construction, yet every norm and the recurrent spectrum are the target's.
    """
    out: Params = {}
    W = np.asarray(source["W_hh"], np.float64)
    u, _, vt = np.linalg.svd(W)
    sigma_t = np.linalg.svd(np.asarray(target["W_hh"], np.float64), compute_uv=False)
    out["W_hh"] = ((u * sigma_t) @ vt).astype(source["W_hh"].dtype)
    for k in ("W_in", "b", "W_out"):
        x = np.asarray(source[k], np.float64)
        ns, nt = np.linalg.norm(x), np.linalg.norm(np.asarray(target[k], np.float64))
        out[k] = (x * (nt / ns if ns > 0 else 1.0)).astype(source[k].dtype)
    out["b_out"] = np.asarray(target["b_out"]).copy()
    return out


def moment_basis(states: np.ndarray, target: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """``G [H, H]`` with ``G M_s Gᵀ = M_t`` for the second moments ``M = XᵀX / n`` of two state sets.

    ``states``/``target`` are ``[..., H]`` rates of one network each. ``G = U_t √(Λ_t/Λ_s) U_sᵀ``
    (eigen-decompositions, descending): the source's states seen through ``G`` have the target's
    RMS and the target's singular values. Source eigenvalues below ``floor`` × the largest keep
    gain 1 (a state direction the network never visits cannot be matched; it carries no energy).
    """
    def eig(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
        lam, vec = np.linalg.eigh(x.T @ x / x.shape[0])
        return np.clip(lam[::-1], 0.0, None), vec[:, ::-1]

    lam_s, u_s = eig(states)
    lam_t, u_t = eig(target)
    ok = lam_s > floor * max(lam_s[0], 1e-300)
    gain = np.where(ok, np.sqrt(lam_t / np.where(ok, lam_s, 1.0)), 1.0)
    return (u_t * gain) @ u_s.T


def matched_ensemble(ens: Ensemble, sources: Sequence[int], targets: Sequence[int], level: str | None,
                     *, name: str) -> Ensemble:
    """Member ``sources[k]`` of ``ens`` brought to the size of member ``targets[k]``, for every k.

    What "size" means follows the level a metric reads: weights level, every weight norm and the
    recurrent singular values (:func:`match_weights`); dynamics and representation levels, the
    states' RMS and singular values on the probe set (a linear view of the source's states,
    :func:`moment_basis`); behaviour level, the RMS of the outputs (the readout rescaled). Each
    result is a different solution from its target by construction, at the target's size.
    """
    src, tgt = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
    if level == "weights":
        pairs = zip(src, tgt, strict=True)
        mats = [match_weights(member(ens, int(s)), member(ens, int(t))) for s, t in pairs]
        return from_params(ens, {k: np.stack([m[k] for m in mats]) for k in PARAM_NAMES}, name)
    if level == "behaviour":
        out, _ = ens.run()
        params = {k: np.asarray(v)[src].copy() for k, v in ens.params.items()}
        c = np.array([rms(out[t]) / max(rms(out[s]), 1e-12) for s, t in zip(src, tgt, strict=True)])
        params["W_out"] = (params["W_out"] * c[:, None, None]).astype(params["W_out"].dtype)
        params["b_out"] = (params["b_out"] * c[:, None]).astype(params["b_out"].dtype)
        return from_params(ens, params, name)
    states = ens.trajectories()
    G = np.stack([moment_basis(states[s], states[t]) for s, t in zip(src, tgt, strict=True)])
    return TransformedEnsemble(ens.subset(src), G, name=name)


def shuffled(ens: Ensemble, rng: np.random.Generator) -> tuple[Ensemble, np.ndarray]:
    """``ens`` with its members in a random order in which none keeps its position, and ``order``
    (member k of the result is ``order[k]``): a metric must not depend on where a network sits."""
    order = _derangement(len(ens), rng)
    return ens.subset(order), order
