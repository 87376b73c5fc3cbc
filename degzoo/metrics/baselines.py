"""Baselines: measures users actually reach for, scored to show where a naive or classical choice lands.

None of them is a reference metric; they are on the board (role *baseline*) so that a reader sees
what the benchmark makes of a choice people make every day:

- :class:`UnitCorrelation` (``unit_correlation``, representation): ``1 − r``, the Pearson
  correlation between two networks' flattened probe-set activities (``scipy.spatial.distance.
  correlation``). It matches unit i of one network to unit i of the other, which trained networks
  do not share: relabelling a network's units changes it.
- :class:`SortedWeights` (``sorted_weights``, weights): the distance between the sorted magnitudes
  of the recurrent weights, ``‖sort|W1| − sort|W2|‖_F / H²``: a weight histogram, blind to which
  unit connects to which. Invariant to relabelling and sign flips, and blind to the wiring.
- :class:`RSAToolbox` (``rsa_rsatoolbox``, representation): representational similarity analysis
  as rsatoolbox computes it (optional extra ``[baselines]``): a correlation-distance RDM of each
  network's probe-set activity patterns (``calc_rdm(method="correlation")``) compared by
  ``compare(method="corr")``; the distance is ``1 − r`` between RDMs.
- :class:`OutputDistance` (``output_distance``, behaviour): the root-mean-square difference between
  two networks' outputs on the task's out-of-distribution probe set (``behaviour_ood``'s inputs):
  a comparison of behaviour input by input, where σ_OOD compares one loss per network.
- :class:`FixedPointSpectrum` (``fixed_point_spectrum``, dynamics): fixed-point analysis (Sussillo &
  Barak 2013; networks compared by their linearisations at fixed points as in Maheswaranathan et
  al. 2019): the Wasserstein-1 distance between the pooled Jacobian eigenvalues at each network's
  fixed points (:mod:`degzoo.metrics.fixed_points`). Invariant to relabelling and sign flips of
  units; blind to where the fixed points lie and to the eigenvectors.
- :class:`LyapunovSpectrum` (``lyapunov_spectrum``, dynamics): Lyapunov analysis (Vogt et al. 2022;
  Engelken, Wolf & Abbott 2023): the root-mean-square difference between two networks' largest
  finite-time Lyapunov exponents along their probe-set trajectories
  (:mod:`degzoo.metrics.lyapunov`). Invariant to relabelling and sign flips of units; blind to the
  directions that grow or shrink and to where the trajectories go.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import Level, Metric, checkpoint
from degzoo.metrics.fixed_points import FixedPoints, find_fixed_points, starting_states
from degzoo.metrics.lyapunov import FLOAT32_EPS, lyapunov_exponents
from degzoo.metrics.representation import trajectory_matrices
from degzoo.metrics.weights import check_finite_params, check_same_width

__all__ = ["BASELINE_INSTALL_HINT", "FixedPointSpectrum", "LyapunovSpectrum", "OutputDistance", "RSAToolbox",
           "SortedWeights", "UnitCorrelation"]

#: What to run to get the baselines that wrap other packages.
BASELINE_INSTALL_HINT = 'pip install "degzoo[baselines]"'


@dataclass
class UnitCorrelation(Metric):
    """``1 − r`` between flattened probe-set activities, unit i against unit i (scipy's correlation
    distance): what one computes when two networks' recordings are treated as the same channels."""

    name: ClassVar[str] = "unit_correlation"
    level: ClassVar[Level] = "representation"
    invariances: ClassVar[frozenset[str]] = frozenset({"scale"})

    def embed(self, ensemble: Any) -> np.ndarray:
        X = np.asarray(ensemble.trajectories(), dtype=np.float64)
        return X.reshape(X.shape[0], -1)

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        if emb_a.shape[1] != emb_b.shape[1]:
            raise InvalidParameterError(
                f"metric {self.name!r}: the ensembles' activities have different sizes "
                f"({emb_a.shape[1]} vs {emb_b.shape[1]}); compare networks of one width on one probe set")
        return np.clip(cdist(emb_a, emb_b, "correlation"), 0.0, 2.0)


@dataclass
class SortedWeights(Metric):
    """``‖sort|W1| − sort|W2|‖_F / H²`` on the recurrent weights: the distance between two weight
    histograms, which no relabelling of units changes and which ignores the wiring."""

    name: ClassVar[str] = "sorted_weights"
    level: ClassVar[Level] = "weights"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip"})

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        W = check_finite_params(self.name, getattr(ensemble, "params", None), ("W_hh",))["W_hh"]
        return {"W_hh": W, "sorted": np.sort(np.abs(W).reshape(W.shape[0], -1), axis=1)}

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        check_same_width(self, {"W_hh": emb_a["W_hh"]}, {"W_hh": emb_b["W_hh"]})
        return cdist(emb_a["sorted"], emb_b["sorted"]) / emb_a["sorted"].shape[1]


@dataclass
class OutputDistance(Metric):
    """RMS difference between two networks' outputs on the task's out-of-distribution probe set
    (``n_trials`` trials drawn with ``seed``, as ``behaviour_ood`` draws them): how differently two
    networks answer the same unseen inputs, which relabelling hidden units does not change."""

    name: ClassVar[str] = "output_distance"
    level: ClassVar[Level] = "behaviour"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip"})

    n_trials: int = 64
    seed: int = 0

    def embed(self, ensemble: Any) -> np.ndarray:
        inputs, _ = ensemble.task.ood().probe(n=self.n_trials, seed=self.seed)
        out = np.asarray(ensemble.run(inputs)[0], dtype=np.float64)
        out = out.reshape(out.shape[0], -1)
        if not np.isfinite(out).all():
            bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
            raise MetricError(f"metric {self.name!r}: member {bad} has non-finite outputs; "
                              "check its weights for NaN")
        return out

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        return _rms_difference(self, emb_a, emb_b, "numbers of outputs", "compare networks of one task")


@dataclass
class RSAToolbox(Metric):
    """``1 − r`` between correlation-distance RDMs of the probe-set activity patterns, computed by
    rsatoolbox (``calc_rdm(..., method="correlation")``, ``compare(..., method="corr")``).

    ``max_patterns``: the patterns (time points of the probe trials, in order) are subsampled
    evenly to at most this many, so that an RDM stays small (rsatoolbox builds it densely)."""

    max_patterns: int = 400

    name: ClassVar[str] = "rsa_rsatoolbox"
    level: ClassVar[Level] = "representation"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})
    implementation: ClassVar[str] = "rsatoolbox"

    def __post_init__(self) -> None:
        if not isinstance(self.max_patterns, int) or self.max_patterns < 3:
            raise InvalidParameterError(f"{self.name}: max_patterns must be an integer >= 3, "
                                        f"got {self.max_patterns!r}")
        _rsatoolbox(self.name)  # installed? (imported where used: a module would not pickle to workers)

    def embed(self, ensemble: Any) -> np.ndarray:
        X = trajectory_matrices(self, ensemble)  # [E, N, H], centred
        keep = np.unique(np.linspace(0, X.shape[1] - 1, min(self.max_patterns, X.shape[1])).astype(int))
        rsa = _rsatoolbox(self.name)
        rdms = []
        for x in X[:, keep]:
            checkpoint()
            rdm = rsa.rdm.calc_rdm(rsa.data.Dataset(x), method="correlation")
            rdms.append(rdm.get_vectors()[0])
        return np.stack(rdms)

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        if emb_a.shape[1] != emb_b.shape[1]:
            raise InvalidParameterError(f"metric {self.name!r}: the RDMs have different sizes; "
                                        "compare on the same probe set")
        rsa = _rsatoolbox(self.name)
        r = rsa.rdm.compare(rsa.rdm.RDMs(emb_a), rsa.rdm.RDMs(emb_b), method="corr")
        return np.clip(1.0 - np.asarray(r, dtype=np.float64), 0.0, 2.0)


@dataclass
class FixedPointSpectrum(Metric):
    """The Wasserstein-1 distance between two networks' pooled Jacobian eigenvalues at their fixed
    points: the classical fixed-point analysis of a trained RNN, reduced to a distance.

    Per network (:func:`~degzoo.metrics.fixed_points.find_fixed_points`): ``n_starts`` states at
    evenly spaced points of its probe-set trajectories, each moved by at most ``iterations``
    Levenberg–Marquardt steps down the speed ``q(h) = ½‖F(h) − h‖²`` of the zero-input update;
    the end points with ``q < tolerance`` are its fixed points (when none is, its slowest points
    stand in), merged when closer than ``dedup_tolerance`` (RMS per unit), most visited first. The
    ``n_points`` most visited (cycled through when there are fewer) each give the ``n_eigs``
    eigenvalues of largest modulus of the Jacobian of ``F``, folded onto the upper half-plane (a
    real matrix's spectrum is closed under conjugation, so this drops nothing but a tie between a
    conjugate pair at the cut). Two networks' ``n_points × n_eigs`` eigenvalues are matched one to
    one (``linear_sum_assignment``); the distance is the mean ``|λ − μ|`` over the matches.
    """

    n_starts: int = 64
    n_points: int = 8
    n_eigs: int = 8
    iterations: int = 50
    tolerance: float = 1e-12
    dedup_tolerance: float = 1e-4

    name: ClassVar[str] = "fixed_point_spectrum"
    level: ClassVar[Level] = "dynamics"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip"})

    def __post_init__(self) -> None:
        for label in ("n_starts", "n_points", "n_eigs", "iterations"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidParameterError(f"{self.name}: {label} must be a positive integer, got {value!r}")
        for label in ("tolerance", "dedup_tolerance"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < np.inf:
                raise InvalidParameterError(f"{self.name}: {label} must be a positive finite number, "
                                            f"got {value!r}")

    def fixed_points(self, ensemble: Any) -> list[FixedPoints]:
        """Every member's fixed points (or slowest points), as the embedding finds them."""
        params = check_finite_params(self.name, getattr(ensemble, "params", None), ("W_hh", "b"))
        arch = getattr(ensemble, "architecture", None)
        if arch is None:
            raise MetricError(f"metric {self.name!r} needs the ensemble's architecture "
                              "(ensemble.architecture) to run its update equation")
        if self.n_eigs > arch.hidden:
            raise InvalidParameterError(f"{self.name}: n_eigs={self.n_eigs} exceeds the networks' "
                                        f"{arch.hidden} units; use n_eigs <= {arch.hidden}")
        rates = ensemble.trajectories()
        out = []
        for W, b, x in zip(params["W_hh"], params["b"], rates, strict=True):
            checkpoint()
            out.append(find_fixed_points(W, b, arch, starting_states(x, self.n_starts, arch),
                                         iterations=self.iterations, tolerance=self.tolerance,
                                         dedup_tolerance=self.dedup_tolerance))
        return out

    def embed(self, ensemble: Any) -> np.ndarray:
        spectra = []
        for fp in self.fixed_points(ensemble):
            eigs = fp.eigenvalues[np.arange(self.n_points) % len(fp), : self.n_eigs].ravel()
            spectra.append(eigs.real + 1j * np.abs(eigs.imag))
        return np.stack(spectra)

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        if emb_a.shape[1] != emb_b.shape[1]:
            raise InvalidParameterError(
                f"metric {self.name!r}: the ensembles' eigenvalue sets have different sizes "
                f"({emb_a.shape[1]} vs {emb_b.shape[1]}); compare with the same n_points and n_eigs")
        out = np.zeros((len(emb_a), len(emb_b)))
        for i, a in enumerate(emb_a):
            checkpoint()
            for j in range(i + 1 if symmetric else 0, len(emb_b)):
                cost = np.abs(a[:, None] - emb_b[j][None, :])
                rows, cols = linear_sum_assignment(cost)
                out[i, j] = np.sort(cost[rows, cols]).sum() / len(a)
        return out + out.T if symmetric else out


@dataclass
class LyapunovSpectrum(Metric):
    """The root-mean-square difference between two networks' ``n_exponents`` largest finite-time
    Lyapunov exponents along their probe-set trajectories: Lyapunov analysis of a trained RNN (Vogt
    et al. 2022; Engelken, Wolf & Abbott 2023), reduced to a distance.

    Per network (:func:`~degzoo.metrics.lyapunov.lyapunov_exponents`): each probe trial is run
    with its inputs from ``h_0 = 0`` by the model's own update on the stored effective weights,
    in float64, and a frame of ``n_exponents`` directions, started on the leading right-singular
    vectors of the trial's first step Jacobian, is carried by the step Jacobians and
    re-orthonormalised every step (QR); the exponents are the mean log stretches per step (after
    ``warmup`` steps; a stretch below ``stretch_floor`` counts as the floor), largest first,
    averaged over the trials. The whole trial counts by default (``warmup=0``): the probe trials
    are 20–60 steps from a fixed start, and the transient is the task. The start frame makes the
    exponents exactly invariant to relabelling and sign flips of units; an orthogonal change of
    basis of a tanh network is another network, so it is not claimed.
    """

    n_exponents: int = 16
    warmup: int = 0
    stretch_floor: float = FLOAT32_EPS

    name: ClassVar[str] = "lyapunov_spectrum"
    level: ClassVar[Level] = "dynamics"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip"})

    def __post_init__(self) -> None:
        value = self.n_exponents
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(f"{self.name}: n_exponents must be a positive integer, got {value!r}")
        value = self.warmup
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InvalidParameterError(f"{self.name}: warmup must be a non-negative integer, got {value!r}")
        value = self.stretch_floor
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise InvalidParameterError(f"{self.name}: stretch_floor must be a number in (0, 1), "
                                        f"got {value!r}")

    def exponents(self, ensemble: Any) -> np.ndarray:
        """Every member's exponents on every probe trial, ``[E, B, n_exponents]``, largest first."""
        params = check_finite_params(self.name, getattr(ensemble, "params", None), ("W_hh", "W_in", "b"))
        arch = getattr(ensemble, "architecture", None)
        inputs = getattr(ensemble, "probe_inputs", None)
        if arch is None or inputs is None:
            raise MetricError(f"metric {self.name!r} needs the ensemble's architecture and probe inputs "
                              "(ensemble.architecture, ensemble.probe_inputs) to run its trajectories")
        if self.n_exponents > arch.hidden:
            raise InvalidParameterError(f"{self.name}: n_exponents={self.n_exponents} exceeds the networks' "
                                        f"{arch.hidden} units; use n_exponents <= {arch.hidden}")
        T = np.shape(inputs)[1]
        if self.warmup >= T:
            raise InvalidParameterError(f"{self.name}: warmup={self.warmup} leaves none of the probe "
                                        f"trials' {T} steps; use warmup < {T}")
        out = []
        for W_hh, W_in, b in zip(params["W_hh"], params["W_in"], params["b"], strict=True):
            checkpoint()
            out.append(lyapunov_exponents(W_hh, W_in, b, arch, inputs, self.n_exponents,
                                          warmup=self.warmup, stretch_floor=self.stretch_floor))
        return np.stack(out) if out else np.zeros((0, np.shape(inputs)[0], self.n_exponents))

    def embed(self, ensemble: Any) -> np.ndarray:
        return self.exponents(ensemble).mean(axis=1)

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        return _rms_difference(self, emb_a, emb_b, "numbers of exponents",
                               "compare with the same n_exponents")


def _rms_difference(metric: Metric, emb_a: np.ndarray, emb_b: np.ndarray, what: str, fix: str) -> np.ndarray:
    """Root-mean-square difference between every row of ``emb_a`` and of ``emb_b``, or a clear error
    when their sizes (``what``) differ, saying how to ``fix`` it."""
    if emb_a.shape[1] != emb_b.shape[1]:
        raise InvalidParameterError(f"metric {metric.name!r}: the ensembles have different {what} "
                                    f"({emb_a.shape[1]} vs {emb_b.shape[1]}); {fix}")
    return cdist(emb_a, emb_b) / np.sqrt(emb_a.shape[1])


def _rsatoolbox(metric: str) -> Any:
    """rsatoolbox, or a one-line error saying how to install the extra."""
    try:
        rsa = importlib.import_module("rsatoolbox")
        importlib.import_module("rsatoolbox.rdm")
        importlib.import_module("rsatoolbox.data")
    except ImportError:
        raise InvalidParameterError(
            f"metric {metric!r} runs rsatoolbox, which is not installed: {BASELINE_INSTALL_HINT}") from None
    return rsa
