"""The scorecard's suites: each runs a metric through a test whose right answer is known.

Every suite is a function ``suite(ctx, out)`` that fills ``out.scores``/``out.details`` as it goes
(so a suite stopped by its time limit keeps what it finished) and may set ``out.status`` to
``"failed"`` or ``"skipped"`` with a message; the harness (:mod:`degzoo.benchmark.harness`) turns
exceptions and time limits into ``"error"``/``"timeout"``. All distances come from
:class:`~degzoo.benchmark.store.MetricRunner`, so suites share computed pairs.

Members: per condition, the converged members in stored order (all members when fewer than 2
converged), of which the first ``max_members`` are used (fewer where a suite says so).
Intervals: 95 % percentile bootstrap over members (see :mod:`degzoo.benchmark.stats`), except the
conformance ratios, whose interval is the range over the twins tested.
"""

from __future__ import annotations

import json
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from degzoo.benchmark import stats
from degzoo.benchmark.results import Score, SuiteResult
from degzoo.benchmark.store import MetricRunner, SuiteTimeout
from degzoo.benchmark.twins import (
    ELSEWHERE,
    MATCHED_HOW,
    MAX_TUNED_FRACTION,
    TWIN_KINDS,
    describe_twins,
    equivalent,
    from_params,
    interpolate,
    least_tuned_condition,
    make_twin,
    matched_ensemble,
    matched_statistics,
    member,
    perturb,
    shuffled,
    with_probe,
)
from degzoo.errors import MetricError
from degzoo.metrics.base import round_off_floor

#: The reference metric of each level (agreement suite).
REFERENCE_METRICS: dict[str, str] = {
    "behaviour": "behaviour_ood",
    "dynamics": "dsa",
    "weights": "weights_perm",
    "representation": "cka",
}

#: Direction of degeneracy as the factor grows, per level (PAPER-FACTS); +1 ↑, −1 ↓.
#: The representation level has no row in the paper: it takes the dynamics direction.
EXPECTED_DIRECTION: dict[str, dict[str, int]] = {
    "dynamics": {"complexity": -1, "memory": -1, "aux": -1, "feature_learning": -1, "width": -1,
                 "regularisation": -1},
    "weights": {"complexity": +1, "memory": +1, "aux": +1, "feature_learning": +1, "width": -1,
                "regularisation": -1},
    "behaviour": {"complexity": -1, "memory": -1, "aux": -1, "feature_learning": +1, "width": -1,
                  "regularisation": -1},
}
EXPECTED_DIRECTION["representation"] = EXPECTED_DIRECTION["dynamics"]

#: Invariances a metric must have at each level, whatever it claims: relabelling units and
#: flipping a unit's sign are symmetries of every tanh network (the relabelled network *is* the
#: same solution). Orthogonal and scale invariance stay optional: measured, shown, required only
#: when claimed.
REQUIRED_INVARIANCES: dict[str, frozenset[str]] = {
    "dynamics": frozenset({"permutation", "sign_flip"}),
    "weights": frozenset({"permutation", "sign_flip"}),
    "representation": frozenset({"permutation", "sign_flip"}),
    "behaviour": frozenset(),
}


def owed_invariances(metric: Any) -> set[str]:
    """The invariances ``metric`` must have: those it claims and those its level requires."""
    return set(getattr(metric, "invariances", ())) | REQUIRED_INVARIANCES.get(getattr(metric, "level", None)
                                                                            or "", frozenset())



#: Scores that are better lower (ratios of twins to between-network distances, widths, costs).
_LOWER_IS_BETTER = ("self_distance_ratio", "asymmetry_ratio", "twin_ratio", "null_ratio", "ci_width_",
                    "seconds_per_pair", "compare_seconds_per_pair", "embed_seconds_per_network",
                    "seconds_per_pair_traced", "peak_traced_mb", "peak_rss_delta_mb")
#: Scores with no better direction: estimates (degeneracy), signed correlations per ladder (their
#: expected sign is in the details), agreement with the reference (more is not better per se).
_NO_DIRECTION = ("degeneracy_n", "spearman[")


def higher_is_better(suite: str, score: str) -> bool | None:
    """Whether a higher value of ``suite``'s ``score`` is better (None: neither, it is an estimate)."""
    if suite == "agreement" or score.startswith(_NO_DIRECTION):
        return None
    return not score.startswith(_LOWER_IS_BETTER)


@dataclass(frozen=True)
class Settings:
    """Sizes and tolerances of a run (recorded in the result's ``settings``).

    The defaults are the board's scoring protocol (:func:`protocol_differences`): sized so that the
    reference metrics' scores have 95 % intervals of at most ±0.05 on the embedded zoo.
    """

    max_members: int = 16
    time_limit: float | None = 60.0
    budget: float | None = None
    seed: int = 0
    n_boot: int = 1000
    conformance_members: int = 3
    calibration_members: int = 12
    identity_tolerance: float = 0.01
    invariance_tolerance: float = 0.05
    float_copy_noise: float = 1e-6
    twin_noise: float = 0.01
    families: int = 5
    family_size: int = 4
    noise_levels: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)
    alphas: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    sample_sizes: tuple[int, ...] = (4, 8, 12, 16)
    subset_draws: int = 50
    mixture_subsample: float = 0.8

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: Settings that bound how long a run may take without changing what it measures.
RUN_LIMITS = frozenset({"time_limit", "budget"})


def protocol_differences(settings: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{name: (recorded, protocol)}`` for each recorded setting that is not the board's protocol
    (the :class:`Settings` defaults, limits aside), compared as JSON. Scores from other sizes are
    not comparable: fewer members or twins give other values and wider intervals."""
    protocol = json.loads(json.dumps(Settings().to_json()))
    return {k: (settings[k], v) for k, v in protocol.items()
            if k not in RUN_LIMITS and k in settings and settings[k] != v}


@dataclass
class Context:
    """What a suite may use: the metric, its runner, the release, the chosen conditions."""

    metric: Any
    release: Any
    runner: MetricRunner
    settings: Settings
    home: str
    groups: list[list[str]]
    reference_runner: Callable[[str], MetricRunner | None]
    #: whether ``groups`` are solution families (each its baseline first) rather than conditions
    #: that merely share task, architecture and probe set
    families: bool = False
    #: whether long ground-truth constructions (trained matches) may show a progress bar
    progress: bool = True
    _least_tuned: tuple[str | None, float] | None = field(default=None, repr=False)

    @property
    def level(self) -> str | None:
        return getattr(self.metric, "level", None)

    def rng(self, salt: str) -> np.random.Generator:
        return np.random.default_rng([self.settings.seed, zlib.crc32(salt.encode())])

    def members(self, cond: str, m: int | None = None) -> np.ndarray:
        idx = self.runner.members(cond)
        return idx[: self.settings.max_members if m is None else m]

    def condition_for(self, statistic: str) -> str | None:
        """Where a network matched on ``statistic`` is built: the home condition, or for those
        of :data:`ELSEWHERE` the release's least tuned plain condition (no controls), found once;
        None where the release has no condition it can be built on (:data:`MAX_TUNED_FRACTION`)."""
        if statistic not in ELSEWHERE:
            return self.home
        if self._least_tuned is None:
            conditions = self.release.conditions
            plain = [c["id"] for c in conditions if not c.get("controls")] or [c["id"] for c in conditions]
            first = {c: self.members(c, 3) for c in plain}
            few = {c: self.runner.sub(c, idx) for c, idx in first.items() if idx.size >= 2}
            cond, r2 = least_tuned_condition(few) if few else (self.home, {self.home: 1.0})
            self._least_tuned = (cond if r2[cond] <= MAX_TUNED_FRACTION else None, r2[cond])
        return self._least_tuned[0]

    def why_not_built(self) -> str:
        """Why a statistic of :data:`ELSEWHERE` has no matched network here (:meth:`condition_for`: None)."""
        return (f"not built: the release's least tuned condition has units {self._least_tuned[1]:.2f} "
                f"linear in the task variables (median R², above {MAX_TUNED_FRACTION}): a network "
                "given another's tuning would be that network")


def matched_statistics_of(name: str, suite: SuiteResult) -> tuple[str, ...] | None:
    """The matched statistics a finished conformance or calibration suite was built with (None
    for other suites, or where it recorded none): a resumed run must not take over a suite whose
    ground truths are not today's."""
    if name == "conformance":
        found = [c["check"].split(":", 1)[1] for c in suite.details.get("checks", [])
                 if str(c.get("check", "")).startswith("definite:")]
    elif name == "calibration":
        found = list((suite.details.get("confound") or {}).get("different", {}))
    else:
        return None
    return tuple(sorted(found)) or None


def _members_of(ctx: Context, cond: str, m: int) -> tuple[Any, Any]:
    """The first ``m`` usable members of ``cond`` and their runner key."""
    idx = ctx.members(cond, m)
    return ctx.runner.sub(cond, idx), ("member", cond, tuple(int(i) for i in idx))


def _single(runner: MetricRunner, cond: str, i: int) -> tuple[Any, Any]:
    return ("member", cond, (int(i),)), runner.sub(cond, np.array([i]))


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stacked ``[L, ...]`` weights of several sets, one after the other."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _median_positive(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


# --------------------------------------------------------------------------------------------
# 1. Conformance
# --------------------------------------------------------------------------------------------


def conformance(ctx: Context, out: SuiteResult) -> None:
    """Finite, non-negative, symmetric, zero on identical networks (itself, and its copy to
    ``float_copy_noise`` relative precision), separates networks, *definite* (another member made
    to share each of a network's cheap statistics, :data:`MATCHED_STATISTICS`, is not at distance 0
    from it: ``min ≥ invariance_tolerance × median between``), and every owed invariance holds on
    twins: ``max twin distance ≤ tolerance × median between-network distance`` (median over the
    off-diagonal of the same members compared with each other). Owed: those the metric claims and
    those its level requires (:data:`REQUIRED_INVARIANCES`: relabelling and sign flips of units at
    the dynamics, weights and representation levels). Other invariances are measured too and
    reported, without consequence."""
    s, runner, home = ctx.settings, ctx.runner, ctx.home
    idx = ctx.members(home, s.conformance_members)
    if idx.size < 2:
        out.status, out.message = "skipped", f"condition {home!r} has fewer than 2 members"
        return
    ens = runner.sub(home, idx)
    key = ("member", home, tuple(int(i) for i in idx))
    claimed = set(getattr(ctx.metric, "invariances", ()))
    owed = owed_invariances(ctx.metric)
    checks: list[dict[str, Any]] = []
    out.details.update(condition=home, members=idx.tolist(), claimed=sorted(claimed),
                       required=sorted(owed - claimed), checks=checks,
                       identity_tolerance=s.identity_tolerance,
                       invariance_tolerance=s.invariance_tolerance, twins=describe_twins())

    def check(name: str, passed: bool, required: bool, **evidence: Any) -> None:
        checks.append({"check": name, "passed": bool(passed), "required": required, **evidence})
        n_req = sum(c["required"] for c in checks)
        ok = sum(c["required"] and c["passed"] for c in checks)
        out.scores["checks_passed"] = Score.exact(ok / n_req if n_req else 1.0, n_req)

    D = runner.raw_compare(key, ens, key, ens, remember=True)
    n = idx.size
    if D.shape != (n, n):
        raise MetricError(f"compare returned shape {D.shape} for {n} × {n} networks, expected {(n, n)}")
    finite = np.isfinite(D)
    bad = np.argwhere(~finite)
    check("finite", finite.all(), True, non_finite=int((~finite).sum()),
          first_pair=bad[0].tolist() if bad.size else None)
    off = ~np.eye(n, dtype=bool)
    between = D[off & finite]
    scale = _median_positive(between)
    ref = scale if scale > 0 else float(np.nanmax(np.abs(D[finite]))) if finite.any() else 1.0
    ref = ref if ref > 0 else 1.0
    neg = finite & (round_off_floor(D) > D)  # the distance check's own tolerance
    check("non_negative", not neg.any(), True, min_value=float(D[finite].min()) if finite.any() else None)
    D = _at_least_zero(D)
    check("separates_networks", bool(scale > 0), True, median_between=scale,
          note="independently trained networks must not all be at distance 0")
    diag = np.abs(np.diag(D))
    self_ratio = float(np.nanmax(diag) / ref) if np.isfinite(diag).any() else float("nan")
    check("zero_on_identical", np.isfinite(self_ratio) and self_ratio <= s.identity_tolerance, True,
          max_self_distance=float(np.nanmax(diag)) if np.isfinite(diag).any() else None,
          median_between=scale, ratio=self_ratio)
    asym = np.abs(D - D.T)[finite & finite.T]
    asym_ratio = float(asym.max() / ref) if asym.size else float("nan")
    check("symmetric", np.isfinite(asym_ratio) and asym_ratio <= s.identity_tolerance, True,
          max_asymmetry=float(asym.max()) if asym.size else None, ratio=asym_ratio)
    if np.isfinite(self_ratio):
        out.scores["self_distance_ratio"] = Score.exact(self_ratio, n)
    if np.isfinite(asym_ratio):
        out.scores["asymmetry_ratio"] = Score.exact(asym_ratio, n * (n - 1) // 2)
    if finite.all() and not neg.any():
        runner.remember_within(home, idx, np.maximum(D, 0.0))

    rng = ctx.rng("conformance")
    copy = from_params(ens, _stack([perturb(member(ens, i), [s.float_copy_noise], rng) for i in range(n)]),
                       f"{home}~float-copy")
    c = np.abs(_at_least_zero(runner.paired(key, ens, ("float-copy", home, key[2]), copy, checked=False)))
    copy_ratio = float(np.max(c) / ref) if np.isfinite(c).all() else float("nan")
    check("zero_on_float_copy", np.isfinite(copy_ratio) and copy_ratio <= s.identity_tolerance, True,
          relative_noise=s.float_copy_noise, distances=c.tolist(), median_between=scale, ratio=copy_ratio,
          note="the same network with every weight changed in its 6th significant digit")
    for statistic in matched_statistics(ctx.level):
        cond = ctx.condition_for(statistic)
        if cond is None:  # recorded, neither passed nor failed
            check(f"definite:{statistic}", True, False, skipped=ctx.why_not_built(),
                  how=MATCHED_HOW[statistic])
            continue
        at, at_key, at_scale, at_ref = ens, key, scale, ref
        if cond != home:  # another condition's members, and the median distance between them
            at, at_key = _members_of(ctx, cond, s.conformance_members)
            between_at = _at_least_zero(runner.raw_compare(at_key, at, at_key, at))
            at_scale = _median_positive(between_at[~np.eye(len(at), dtype=bool)])
            at_ref = at_scale if at_scale > 0 else ref
        with runner.deadline.paused():  # building the ground truth is not the metric's time
            matched = matched_ensemble(at, np.roll(np.arange(len(at)), -1), np.arange(len(at)), ctx.level,
                                       statistic=statistic, name=f"{cond}~matched-{statistic}",
                                       progress=ctx.progress)
        d = _at_least_zero(runner.paired(at_key, at, ("matched", statistic, cond, at_key[2]), matched,
                                         checked=False))
        definite = float(np.min(d) / at_ref) if np.isfinite(d).all() else float("nan")
        check(f"definite:{statistic}", np.isfinite(definite) and definite >= s.invariance_tolerance, True,
              condition=cond, distances=d.tolist(), median_between=at_scale, min_ratio=definite,
              how=MATCHED_HOW[statistic])
    for kind in TWIN_KINDS:
        # one call per kind: the diagonal is member i vs its own twin, the off-diagonal member i
        # vs the twin of member j (a between-network distance, under a claimed invariance)
        twin = make_twin(ens, kind, rng)
        T = _at_least_zero(runner.raw_compare(key, ens, ("twin", kind, home, key[2]), twin, remember=True))
        if T.shape != (n, n):
            raise MetricError(f"compare returned shape {T.shape} for {n} × {n} networks, expected {(n, n)}")
        t = np.diag(T).copy()
        ratios = t / ref
        worst = float(np.max(ratios)) if np.isfinite(ratios).all() else float("nan")
        holds = bool(np.isfinite(worst) and worst <= s.invariance_tolerance)
        required = kind in owed
        check(f"invariance:{kind}", holds or not required, required, claimed=kind in claimed,
              required_by_level=required and kind not in claimed, holds=holds,
              twin_distances=t.tolist(), median_between=scale, worst_ratio=worst,
              median_twin_vs_other=_median_positive(T[off]))
        if np.isfinite(worst):
            out.scores[f"twin_ratio_{kind}"] = Score(worst, float(np.min(ratios)), worst, n)
    failed = [c for c in checks if c["required"] and not c["passed"]]
    if failed:
        out.status = "failed"
        out.message = "; ".join(_explain(c, s) for c in failed)


def _at_least_zero(D: np.ndarray) -> np.ndarray:
    """Raw distances with float round-off below 0 (:func:`round_off_floor`) counted as 0; larger
    negatives and non-finite values are kept for the checks to report."""
    return np.where(np.isfinite(D) & (D < 0) & (round_off_floor(D) <= D), 0.0, D)


def _explain(c: dict[str, Any], s: Settings) -> str:
    name = c["check"]
    if name.startswith("invariance:"):
        kind = name.split(":", 1)[1]
        owes = (f"claims {kind!r} invariance" if c.get("claimed", True) else
                f"must be invariant to {kind} (the {kind} of a tanh network's units is the same solution)")
        return (f"{owes} but {kind} twins are up to {_g(c['worst_ratio'])}× the "
                f"median distance between independently trained networks (twin distances "
                f"{', '.join(_g(v) for v in c['twin_distances'])} vs median between "
                f"{_g(c['median_between'])}; tolerance {s.invariance_tolerance:g}×)")
    if name == "finite":
        return f"returned {c['non_finite']} non-finite distance(s), first at pair {c['first_pair']}"
    if name == "zero_on_float_copy":
        return (f"a network and its copy to {c['relative_noise']:g} relative precision are up to "
                f"{_g(c['ratio'])}× the median distance between networks apart (tolerance "
                f"{s.identity_tolerance:g}×): the metric reads the float encoding, not the network")
    if name.startswith("definite:"):
        statistic = name.split(":", 1)[1]
        return (f"a different solution built to share a member's cheap statistics ({statistic}: {c['how']}) "
                f"is only {_g(c['min_ratio'])}× the median distance between networks from it (at least "
                f"{s.invariance_tolerance:g}× needed): the metric does not tell that different solution "
                "from the network")
    if name == "non_negative":
        return f"returned a negative distance ({_g(c['min_value'])})"
    if name == "separates_networks":
        return "returned 0 for every pair of independently trained networks"
    if name == "zero_on_identical":
        return (f"a network is at distance {c['max_self_distance']} from itself "
                f"({_g(c['ratio'])}× the median between networks; tolerance {s.identity_tolerance:g}×)")
    if name == "symmetric":
        return f"d(a, b) and d(b, a) differ by up to {_g(c['max_asymmetry'])} ({_g(c['ratio'])}× the median)"
    return name


def _g(value: float | None) -> str:
    """A number in a conformance message; None (a check with no value, e.g. on NaN output) as n/a."""
    return "n/a" if value is None else f"{value:.3g}"


# --------------------------------------------------------------------------------------------
# 2. Calibration on planted ground truth
# --------------------------------------------------------------------------------------------


def calibration(ctx: Context, out: SuiteResult) -> None:
    """Planted ground truth, every constructed network handed to the metric at a random position:
    near-twins far closer than independent members; distance grows along a size-preserving noise
    ladder and along an interpolation; different solutions made to share each of a network's cheap
    statistics farther than its near-twins and its exact equivalents (``confound_auroc``); mixtures
    of conditions recovered by clustering (ARI)."""
    s, runner, home = ctx.settings, ctx.runner, ctx.home
    idx = ctx.members(home, s.calibration_members)
    if idx.size < 2:
        out.status, out.message = "skipped", f"condition {home!r} has fewer than 2 members"
        return
    out.details.update(condition=home, base_members=idx.tolist(),
                       positions="constructed networks are compared in a random order")
    rng = ctx.rng("calibration")
    base = runner.sub(home, idx)
    key = ("member", home, tuple(int(i) for i in idx))
    n = idx.size

    # (a) near-twins: 1 % relative weight noise (the runner relabels every network it hands over)
    twins = _near_twins(ctx, key, base, rng)
    all_idx = ctx.members(home)
    W = runner.within(home, all_idx)
    between = stats.off_diagonal(W)
    value = stats.auroc(between, twins)
    reps = _twin_reps(W, twins, s.n_boot, ctx.rng("twin-boot"))
    if (sc := stats.score(value, reps[0], twins.size)) is not None:
        out.scores["twin_auroc"] = sc
    ratio = float(np.median(twins) / np.median(between)) if np.median(between) > 0 else float("nan")
    if (sc := stats.score(ratio, reps[1], twins.size)) is not None:
        out.scores["twin_ratio"] = sc
    out.details["near_twins"] = {"noise": s.twin_noise, "distances": twins.tolist(),
                                 "median_between": float(np.median(between)),
                                 "between_members": all_idx.tolist(),
                                 "how": "member + noise (relative to each weight's RMS); like every "
                                        "network handed to the metric, units relabelled and sign-flipped"}

    # (b) weight-noise ladder at constant size
    levels = np.asarray(s.noise_levels)
    noise_calls = []
    for i, m in enumerate(idx):
        pert = from_params(base, perturb(member(base, i), levels, rng, keep_norm=True), f"{home}~noise{m}")
        noise_calls.append(_shuffled_call(*_single(runner, home, int(m)), ("noise", home, int(m)), pert, rng))
    dn = np.stack([row[0] for row in _shuffled_crosses(runner, noise_calls)])
    _ladder_score(out, "noise_spearman", levels, dn, s.n_boot, ctx.rng("noise-boot"))
    out.details["noise_ladder"] = {"levels": levels.tolist(), "distances": dn.tolist(),
                                   "how": "d(member, member + level·rms·z rescaled to the member's norm), "
                                          "one noise direction z per parameter"}

    # (c) interpolation between two solutions
    alphas = np.asarray(s.alphas)
    pairs = [(i, i + 1) for i in range(n - 1)]
    interp_calls = []
    for i, j in pairs:
        path = from_params(base, interpolate(member(base, i), member(base, j), alphas),
                           f"{home}~interp{idx[i]}-{idx[j]}")
        interp_calls.append(_shuffled_call(*_single(runner, home, int(idx[i])),
                                           ("interp", home, int(idx[i]), int(idx[j])), path, rng))
    di = np.stack([row[0] for row in _shuffled_crosses(runner, interp_calls)])
    _ladder_score(out, "interpolation_spearman", alphas, di, s.n_boot, ctx.rng("interp-boot"))
    out.details["interpolation"] = {"alphas": alphas.tolist(), "pairs": [[int(idx[i]), int(idx[j])]
                                    for i, j in pairs], "distances": di.tolist(),
                                    "how": "d(A, (1-α)A + αB) in raw weight coordinates"}

    # (e) different solutions at the same size vs the same solution (near-twin, claimed equivalents)
    _confound(ctx, out, key, base, twins, rng)

    # (d) mixture of known solution families
    if not ctx.families:
        out.details["mixture"] = NO_FAMILIES
        return
    group = ctx.groups[0]
    sel = {c: ctx.members(c) for c in group}
    D, labels = runner.block(group, sel)
    k = len(group)
    ari = stats.adjusted_rand_index(labels, stats.cluster(D, k))
    reps_ari = _mixture_reps(D, labels, k, s, ctx.rng("mixture-boot"))
    if (sc := stats.score(ari, reps_ari, int(labels.size))) is not None:
        out.scores["mixture_ari"] = sc
    out.details["mixture"] = {"conditions": group, "members": {c: v.tolist() for c, v in sel.items()},
                              "k": k, "clustering": "scipy average linkage, k clusters",
                              "interval": f"{s.mixture_subsample:.0%} subsamples within each condition"}


def _shuffled_call(key_a: Any, ens_a: Any, key_b: Any, ens_b: Any, rng: np.random.Generator
                   ) -> tuple[tuple[Any, Any, Any, Any], np.ndarray]:
    """The ``cross`` call of ``[Ea, Eb]`` with ``ens_b``'s members handed to the metric in a random
    order (drawn from ``rng`` now), and that order."""
    order_ens, order = shuffled(ens_b, rng)
    return (key_a, ens_a, (*key_b, "order", tuple(int(o) for o in order)), order_ens), order


def _shuffled_crosses(runner: MetricRunner, calls: list[tuple[tuple[Any, Any, Any, Any], np.ndarray]]
                      ) -> list[np.ndarray]:
    """The distances of :func:`_shuffled_call` s, computed as one batch, each with its columns put
    back in ``ens_b``'s order."""
    runner.prefetch_cross([call for call, _ in calls])
    out = []
    for call, order in calls:
        X = runner.cross(*call)
        back = np.empty_like(X)
        back[:, order] = X
        out.append(back)
    return out


def _paired(runner: MetricRunner, key: Any, base: Any, key_b: Any, ens_b: Any,
            rng: np.random.Generator) -> np.ndarray:
    """``d(base_i, ens_b_i)`` for every i, ``ens_b`` handed to the metric in a random order (so that
    a network's position in its ensemble says nothing), one pair per member."""
    order_ens, order = shuffled(ens_b, rng)
    return runner.paired(key, base, (*key_b, "order", tuple(int(o) for o in order)), order_ens,
                         np.argsort(order))


def _near_twins(ctx: Context, key: Any, base: Any, rng: np.random.Generator) -> np.ndarray:
    """``d(A, A + 1 % weight noise)`` for every member A of ``base`` (``key``: its runner key)."""
    cond = key[1]
    noisy = _stack([perturb(member(base, i), [ctx.settings.twin_noise], rng) for i in range(len(base))])
    return _paired(ctx.runner, key, base, ("near-twin", cond, key[2]),
                   from_params(base, noisy, f"{cond}~near-twins"), rng)


def _same_solutions(ctx: Context, key: Any, base: Any, twins: np.ndarray, rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    """``d(A, A')`` for every member A of ``base``: its near-twin (``twins``) and A under every
    invariance the metric owes, composed."""
    same = {"near_twin": twins}
    kinds = sorted(owed_invariances(ctx.metric) & set(TWIN_KINDS))
    if kinds:
        same["+".join(kinds)] = _paired(ctx.runner, key, base, ("same", *kinds, key[1], key[2]),
                                        equivalent(base, kinds, rng), rng)
    return same


class _Ground(NamedTuple):
    """Where matched networks are compared: members (runner ``key``, ensemble ``base``), their
    distances to same solutions (:func:`_same_solutions`), and the draws for the comparisons."""

    key: Any
    base: Any
    same: dict[str, np.ndarray]
    rng: np.random.Generator


def _confound(ctx: Context, out: SuiteResult, key: Any, base: Any, twins: np.ndarray,
              rng: np.random.Generator) -> None:
    """``confound_auroc``: the worst, over the cheap statistics of the metric's level
    (:data:`MATCHED_STATISTICS`), of P(d(A, B made to share that statistic with A) > d(A, A')) over
    members A, where A' is A's near-twin or A under every invariance the metric owes (a same
    solution, at another size when it claims ``scale``). Known by construction: a metric that reads
    one of those statistics puts B at 0 from A and scores about 0 there, whatever it does on the
    others. Each statistic's AUROC is reported too (``confound_auroc[<statistic>]``). A statistic
    of :data:`ELSEWHERE` is built on the members of another condition, with their own near-twins
    and equivalents (:meth:`Context.condition_for`). Interval: members resampled, one draw per
    condition for all its statistics, the worst taken in each replicate."""
    runner, home, s = ctx.runner, ctx.home, ctx.settings
    same = _same_solutions(ctx, key, base, twins, rng)
    grounds = {home: _Ground(key, base, same, rng)}

    def ground(cond: str) -> _Ground:
        if cond not in grounds:  # another condition: its own members, near-twins, equivalents, draws
            at_rng = ctx.rng(f"confound-{cond}")
            at, at_key = _members_of(ctx, cond, s.calibration_members)
            at_twins = _near_twins(ctx, at_key, at, at_rng)
            grounds[cond] = _Ground(at_key, at, _same_solutions(ctx, at_key, at, at_twins, at_rng), at_rng)
        return grounds[cond]

    different: dict[str, list[float] | None] = {}
    where: dict[str, str] = {}
    skipped: dict[str, str] = {}
    values, replicates = [], []
    for statistic in matched_statistics(ctx.level):
        cond = ctx.condition_for(statistic)
        if cond is None:
            different[statistic], skipped[statistic] = None, ctx.why_not_built()
            continue
        where[statistic] = cond
        at_key, at, at_same, at_rng = ground(cond)
        n = len(at)
        with runner.deadline.paused():
            matched = matched_ensemble(at, np.roll(np.arange(n), -1), np.arange(n), ctx.level,
                                       statistic=statistic, name=f"{cond}~matched-{statistic}",
                                       progress=ctx.progress)
        d = _paired(runner, at_key, at, ("matched", statistic, cond, at_key[2]), matched, at_rng)
        different[statistic] = d.tolist()
        neg = np.stack(list(at_same.values()), axis=1)  # [n, kinds]
        value = stats.auroc(d, neg)
        boot = ctx.rng("confound-boot" if cond == home else f"confound-boot-{cond}").integers(
            0, n, size=(s.n_boot, n))
        positive = np.concatenate([np.ones(n, bool), np.zeros(neg.shape[1] * n, bool)])
        vals = np.concatenate([d[boot], neg[boot].reshape(s.n_boot, -1)], axis=1)
        reps = stats.auroc_rows(vals, np.broadcast_to(positive, vals.shape))
        if (sc := stats.score(value, reps, n)) is not None:
            out.scores[f"confound_auroc[{statistic}]"] = sc
            values.append(value)
            replicates.append(reps)
    worst = np.min(np.stack(replicates), axis=0) if replicates else None
    if values and (sc := stats.score(min(values), worst, len(base))) is not None:
        out.scores["confound_auroc"] = sc
    out.details["confound"] = {"different": different,
                               "same": {k: v.tolist() for k, v in same.items()},
                               "how_different": {k: MATCHED_HOW[k] for k in different},
                               "how_same": "the near-twin, and the member under all its owed "
                                           "invariances at once (twins as in conformance, composed)",
                               "main": "the worst statistic's AUROC"}
    elsewhere = {c: {"members": [int(i) for i in g.key[2]],
                     "same": {k: v.tolist() for k, v in g.same.items()},
                     "statistics": [k for k, v in where.items() if v == c]}
                 for c, g in grounds.items() if c != home}
    if elsewhere:
        out.details["confound"]["elsewhere"] = elsewhere
    if skipped:
        out.details["confound"]["skipped"] = skipped


def _twin_reps(W: np.ndarray, twins: np.ndarray, n_boot: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of (AUROC, median ratio): twins resampled over base members, between-network
    distances over members of the condition (pairs of a member with its own copy left out)."""
    n, nt = W.shape[0], twins.size
    between, _, _, _ = stats.pair_values(W, rng.integers(0, n, size=(n_boot, n)))
    t = twins[rng.integers(0, nt, size=(n_boot, nt))]
    positive = np.concatenate([np.ones(between.shape[1], bool), np.zeros(nt, bool)])
    auc = stats.auroc_rows(np.concatenate([between, t], axis=1),
                           np.broadcast_to(positive, (n_boot, positive.size)))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(between, axis=1)
        ratio = np.where(med > 0, np.median(t, axis=1) / med, np.nan)
    return auc, ratio


def _ladder_score(out: SuiteResult, name: str, x: np.ndarray, d: np.ndarray, n_boot: int,
                  rng: np.random.Generator) -> None:
    """Pooled Spearman of distance vs planted level over rows (members or pairs), CI over rows."""
    rows = d.shape[0]
    X = np.tile(x, rows)
    value = stats.spearman(X, d.ravel())
    picks = rng.integers(0, rows, size=(n_boot, rows))
    reps = stats.spearman_rows(X, d[picks].reshape(n_boot, -1))
    if (sc := stats.score(value, reps, rows)) is not None:
        out.scores[name] = sc
    else:  # no evidence that the metric follows the planted level
        out.scores[name] = Score.exact(0.0, rows)
        out.details[f"{name}_undefined"] = "the distances did not vary with the planted level: scored 0"


def _mixture_reps(D: np.ndarray, labels: np.ndarray, k: int, s: Settings, rng: np.random.Generator
                  ) -> np.ndarray:
    groups = [np.flatnonzero(labels == u) for u in np.unique(labels)]
    reps = np.empty(min(s.n_boot, 100))
    for r in range(reps.size):
        idx = np.concatenate([rng.choice(g, size=max(2, round(s.mixture_subsample * g.size)),
                                         replace=False) if g.size > 2 else g for g in groups])
        reps[r] = stats.adjusted_rand_index(labels[idx], stats.cluster(D[np.ix_(idx, idx)], k))
    return reps


# --------------------------------------------------------------------------------------------
# 3. Trend recovery along the release's ladders
# --------------------------------------------------------------------------------------------


def degeneracy_with_reps(ctx: Context, cond: str, idx: np.ndarray, n_boot: int,
                         rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """Ensemble-level degeneracy of ``cond`` (σ of member scores for behaviour metrics, else the
    mean pairwise distance) and its bootstrap replicates over members."""
    runner = ctx.runner
    boot = rng.integers(0, idx.size, size=(n_boot, idx.size))
    if runner.behaviour:
        scores = runner.member_scores(cond, idx)
        return float(scores.std()), scores[boot].std(axis=1)
    W = runner.within(cond, idx)
    return float(stats.off_diagonal(W).mean()), stats.mean_distinct(W, boot)


def trend(ctx: Context, out: SuiteResult) -> None:
    """Spearman of degeneracy vs ladder value, per ladder, against the paper's direction, scored on
    evidence (``evidence_share``): a ladder whose 95 % interval excludes 0 on the paper's side
    counts 1, on the other side 0, and an inconclusive one (its interval spans 0) 0.5, so a metric
    whose signs are chance scores about 0.5 however they fall. The release's ladders define the
    suite, so they are not resampled; the interval resamples members: in each bootstrap replicate a
    ladder's interval is its own, moved to the replicate's Spearman, and judged by the same rule."""
    s = ctx.settings
    level = ctx.level
    if level not in EXPECTED_DIRECTION:
        out.status, out.message = "skipped", f"no expected directions for level {level!r}"
        return
    ladders = list(ctx.release.ladders)
    if not ladders:
        out.status, out.message = "skipped", "the release has no ladders"
        return
    done: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    evidence_reps: list[np.ndarray] = []
    out.details.update(ladders=done, skipped=skipped, level=level,
                       evidence="1 where the ladder's interval excludes 0 on the paper's side, 0 on "
                                "the other side, 0.5 where it spans 0",
                       direction_source="dynamics column of PAPER-FACTS (no representation column)"
                       if level == "representation" else f"{level} column of PAPER-FACTS")
    if not ctx.runner.behaviour:  # every condition's distances at once: fills the workers
        ctx.runner.prefetch_within([(cond, ctx.members(cond)) for ladder in ladders
                                    if ladder["factor"] in EXPECTED_DIRECTION[level]
                                    for cond in ladder["conditions"]])
    for ladder in ladders:
        name, factor = ladder["name"], ladder["factor"]
        expected = EXPECTED_DIRECTION[level].get(factor)
        if expected is None:
            skipped.append({"ladder": name, "reason": f"no expected direction for factor {factor!r}"})
            continue
        rng = ctx.rng(f"trend:{name}")
        values, reps, estimates = [], [], []
        try:
            for cond in ladder["conditions"]:
                idx = ctx.members(cond)
                if idx.size < 2:
                    raise MetricError(f"condition {cond!r} has fewer than 2 members")
                v, r = degeneracy_with_reps(ctx, cond, idx, s.n_boot, rng)
                lo, hi = stats.interval(r)
                values.append(v)
                reps.append(r)
                estimates.append({"condition": cond, "value": v, "low": lo, "high": hi, "n": int(idx.size)})
        except (SuiteTimeout, MetricError):  # out of time, or unusable output (NaN, shape, ...)
            raise
        except Exception as exc:  # e.g. a metric that cannot handle one of the conditions
            skipped.append({"ladder": name, "reason": f"{type(exc).__name__}: {exc}", "raised": True})
            continue
        x = np.asarray(ladder["values"], dtype=np.float64)
        rho = stats.spearman(x, values)
        rho_reps = stats.spearman_rows(x, np.stack(reps, axis=1))
        lo, hi = stats.interval(rho_reps)
        agrees = bool(lo > 0 if expected > 0 else hi < 0)
        opposes = bool(hi < 0 if expected > 0 else lo > 0)
        entry = {"ladder": name, "factor": factor, "values": x.tolist(), "degeneracy": estimates,
                 "spearman": rho, "low": lo, "high": hi,
                 "expected": "increase" if expected > 0 else "decrease",
                 "matches": bool(np.sign(rho) == expected),
                 "significant": agrees,
                 "verdict": "agrees" if agrees else "opposes" if opposes else "inconclusive",
                 "evidence": 1.0 if agrees else 0.0 if opposes else 0.5}
        done.append(entry)
        if (sc := stats.score(rho, rho_reps, len(x))) is not None:
            out.scores[f"spearman[{name}]"] = sc
        evidence_reps.append(_replicate_evidence(rho, lo, hi, np.asarray(rho_reps), expected))
        evidence = np.array([e["evidence"] for e in done])
        out.scores["evidence_share"] = stats.score(float(evidence.mean()),
                                                   np.mean(np.stack(evidence_reps), axis=0), len(done))
        signed = np.array([EXPECTED_DIRECTION[level][e["factor"]] * (e["spearman"] if np.isfinite(
            e["spearman"]) else 0.0) for e in done])
        out.scores["signed_spearman_mean"] = Score.exact(float(signed.mean()), len(done))
    if not done:
        raised = any(e.get("raised") for e in skipped)
        out.status = "error" if raised else "skipped"
        out.message = "no ladder could be evaluated: " + "; ".join(
            f"{e['ladder']}: {e['reason']}" for e in skipped)


def _replicate_evidence(rho: float, lo: float, hi: float, reps: np.ndarray, expected: int) -> np.ndarray:
    """A ladder's evidence (1, 0.5 or 0) in each bootstrap replicate: its interval ``[lo, hi]``
    moved to the replicate's Spearman, judged as the point estimate is (undefined replicates: 0.5)."""
    low, high = reps - (rho - lo), reps + (hi - rho)
    agrees = (low > 0) if expected > 0 else (high < 0)
    opposes = (high < 0) if expected > 0 else (low > 0)
    return np.where(np.isfinite(reps), np.where(agrees, 1.0, np.where(opposes, 0.0, 0.5)), 0.5)


# --------------------------------------------------------------------------------------------
# 4. Discriminability
# --------------------------------------------------------------------------------------------


#: Why the real-condition scores are not computed on a release without solution families.
NO_FAMILIES = ("skipped: the release declares no solution families; its conditions that share a task "
               "differ mostly in weight size (L1 shrinks it), which a size-only metric reads and the "
               "reference metrics do not, so they are no ground truth")


def discriminability(ctx: Context, out: SuiteResult) -> None:
    """Between-family vs within-family distances for planted families of equal size
    (``planted_auroc``: near-twins of ``families`` members, every network brought to the first
    member's cheap statistics, handed to the metric in a random order). On a release with real
    solution families beside a baseline (zoo-v2's initial gain and low rank), also each group's
    between- vs within-condition AUROC (shown) and ``family_witness_auroc`` (:func:`_family_witness`),
    the second headline score: families trained to find other solutions, which the reference
    metrics do not all tell apart perfectly."""
    s = ctx.settings
    _planted(ctx, out)
    if not ctx.families:
        out.details["groups"] = NO_FAMILIES
        if not out.scores:
            out.status, out.message = "skipped", f"{out.details['planted']}; {NO_FAMILIES}"
        return
    per_group, mats = [], []
    out.details["groups"] = per_group
    for group in ctx.groups:
        sel = {c: ctx.members(c) for c in group}
        D, labels = ctx.runner.block(group, sel)
        w, b = stats.within_between(D, labels)
        mats.append((D, labels))
        per_group.append({"conditions": group, "auroc": stats.auroc(b, w), "n_within": int(w.size),
                          "n_between": int(b.size), "median_within": float(np.median(w)),
                          "median_between": float(np.median(b))})
    _pooled(out, mats, s, ctx.rng("discriminability"))
    _family_witness(out, mats, ctx.groups, s, ctx.rng("family-witness"))


def _family_witness(out: SuiteResult, mats: list[tuple[np.ndarray, np.ndarray]], groups: list[list[str]],
                    s: Settings, rng: np.random.Generator) -> None:
    """``family_witness_auroc``: for each solution family and its baseline (label 0 of its group),
    the witness AUROC (:func:`~degzoo.benchmark.stats.witness_auroc_rows`: are members nearer their
    own condition on average?), mean over families. The pooled between/within AUROC is fooled by
    unequal spreads (a gain-3 family is spread out, a rank-3 one tight); the witness is not.
    Interval: members resampled within each condition, one draw per group for all its families."""
    values, replicates, per_family, n = [], [], [], 0
    for (D, labels), group in zip(mats, groups, strict=True):
        boot = stats.resample_within(labels, s.n_boot, rng)
        for f in range(1, len(group)):
            cols = np.flatnonzero((labels == 0) | (labels == f))
            local = np.full(labels.size, -1)
            local[cols] = np.arange(cols.size)
            sub, lab = D[np.ix_(cols, cols)], (labels[cols] == f).astype(int)
            value = float(stats.witness_auroc_rows(sub, lab, np.arange(cols.size)[None])[0])
            values.append(value)
            replicates.append(stats.witness_auroc_rows(sub, lab, local[boot[:, cols]]))
            per_family.append({"baseline": group[0], "family": group[f], "witness_auroc": value})
            n += cols.size
    out.details["families"] = {"pairs": per_family, "main": "mean of the families' witness AUROC"}
    if values and (sc := stats.score(float(np.mean(values)), np.mean(np.stack(replicates), axis=0),
                                     n)) is not None:
        out.scores["family_witness_auroc"] = sc


def _planted(ctx: Context, out: SuiteResult) -> None:
    """Planted families: ``family_size`` near-twins of each of ``families`` members of the home
    condition, all made to share the first member's cheap statistics (:func:`_planted_statistic`),
    every network relabelled by the runner: only a comparison of solutions tells the families apart."""
    s, runner, home = ctx.settings, ctx.runner, ctx.home
    idx = ctx.members(home, s.families)
    if idx.size < 2:
        out.details["planted"] = f"skipped: condition {home!r} has fewer than 2 members"
        return
    base = runner.sub(home, idx)
    rng = ctx.rng("planted")
    k, f = idx.size, s.family_size
    copies = [perturb(member(base, i), [s.twin_noise], rng) for i in range(k) for _ in range(f)]
    target = {name: v[None] for name, v in member(base, 0).items()}
    pool = from_params(base, _stack([*copies, target]), f"{home}~families")
    families = matched_ensemble(pool, np.arange(k * f), np.full(k * f, k * f), ctx.level,
                                statistic=_planted_statistic(ctx.level), name=f"{home}~families")
    order_ens, order = shuffled(families, rng)
    key = ("planted", home, tuple(int(i) for i in idx), tuple(int(o) for o in order))
    Dsh = runner.pairwise(key, order_ens)
    D = np.empty_like(Dsh)
    D[np.ix_(order, order)] = Dsh
    labels = np.repeat(np.arange(k), f)
    _pooled(out, [(D, labels)], s, ctx.rng("planted-boot"), prefix="planted_")
    w, b = stats.within_between(D, labels)
    out.details["planted"] = {"members": idx.tolist(), "family_size": f, "noise": s.twin_noise,
                              "median_within": float(np.median(w)), "median_between": float(np.median(b)),
                              "how": f"near-twins of each member; then "
                                     f"{MATCHED_HOW[_planted_statistic(ctx.level)]} "
                                     f"(target: member {int(idx[0])})"}


def _planted_statistic(level: str | None) -> str:
    """What planted families share with their target: at the weights level all of its cheap
    statistics at once (:func:`~degzoo.benchmark.twins.match_all`), else the level's one."""
    return "all" if level == "weights" else matched_statistics(level)[0]


def _pooled(out: SuiteResult, mats: list[tuple[np.ndarray, np.ndarray]], s: Settings,
            rng: np.random.Generator, prefix: str = "") -> None:
    """Pooled AUROC (between > within) and median ratio over groups, CI over members."""
    def pooled(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        vals = np.concatenate([p[0] for p in parts], axis=1)
        pos = np.concatenate([p[1] for p in parts], axis=1)
        auc = stats.auroc_rows(vals, pos)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mw = np.nanmedian(np.where(pos, np.nan, vals), axis=1)
            mb = np.nanmedian(np.where(pos, vals, np.nan), axis=1)
            ratio = np.where(mw > 0, mb / np.where(mw > 0, mw, 1.0), np.nan)
        return auc, ratio

    def parts_of(idx_list: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        parts = []
        for (D, lab), idx in zip(mats, idx_list, strict=True):
            vals, _, iu, ju = stats.pair_values(D, idx)
            parts.append((vals, lab[idx[:, iu]] != lab[idx[:, ju]]))
        return parts

    value, ratio = pooled(parts_of([np.arange(lab.size)[None] for _, lab in mats]))
    reps, ratio_reps = pooled(parts_of([stats.resample_within(lab, s.n_boot, rng) for _, lab in mats]))
    n = int(sum(lab.size for _, lab in mats))
    if (sc := stats.score(float(value[0]), reps, n)) is not None:
        out.scores[f"{prefix}auroc"] = sc
    if (sc := stats.score(float(ratio[0]), ratio_reps, n)) is not None:
        out.scores[f"{prefix}between_within_ratio"] = sc


# --------------------------------------------------------------------------------------------
# 5. Reliability across probe sets
# --------------------------------------------------------------------------------------------


def reliability(ctx: Context, out: SuiteResult) -> None:
    """Same networks on two independent probe sets, handed over in another order the second time:
    same pairwise matrix (Spearman), and a network against itself across probe sets below the
    distances between networks on one probe set (AUROC; the paper's null, shown, not ranked: a
    metric that needs matched samples cannot take it). Each score is the mean over the home
    condition's group (conditions of one task, architecture and probe set), so that it rests on
    several ensembles; the interval resamples the members of every condition independently."""
    group = next((g for g in ctx.groups if ctx.home in g), [ctx.home])
    conditions = [c for c in group if ctx.members(c).size >= 3]
    if not conditions:
        out.status, out.message = "skipped", f"condition {ctx.home!r} has fewer than 3 members"
        return
    rng = ctx.rng("reliability")
    per_condition: list[dict[str, Any]] = []
    out.details.update(conditions=per_condition, pooling="mean over conditions")
    retest: list[tuple[float, np.ndarray]] = []
    null: list[tuple[float, np.ndarray]] = []
    ratio: list[tuple[float, np.ndarray]] = []
    n_total = 0
    for cond in conditions:
        detail, parts = _retest(ctx, cond, rng)
        per_condition.append(detail)
        n_total += len(detail["members"])
        for dest, part in zip((retest, null, ratio), parts, strict=True):
            if part is not None:
                dest.append(part)
        for name, parts_so_far in (("test_retest_spearman", retest), ("null_auroc", null),
                                   ("null_ratio", ratio)):
            if parts_so_far:
                value = float(np.mean([v for v, _ in parts_so_far]))
                reps = np.mean(np.stack([r for _, r in parts_so_far]), axis=0)
                if (sc := stats.score(value, reps, n_total)) is not None:
                    out.scores[name] = sc
    if not retest:
        out.details["test_retest_undefined"] = "every pairwise matrix is constant"


def _retest(ctx: Context, cond: str, rng: np.random.Generator
            ) -> tuple[dict[str, Any], list[tuple[float, np.ndarray] | None]]:
    """One condition's reliability: details, and (value, bootstrap replicates) of the test-retest
    Spearman, the null AUROC and the null ratio (None where undefined)."""
    s, runner = ctx.settings, ctx.runner
    idx = ctx.members(cond)
    base = runner.sub(cond, idx)
    n_probe = base.probe_inputs.shape[0]
    e1, e2 = with_probe(base, n_probe, 1), with_probe(base, n_probe, 2)
    key = tuple(int(i) for i in idx)
    detail: dict[str, Any] = {"condition": cond, "members": idx.tolist(), "probe_sets": [
        f"task.probe(n={n_probe}, seed=1)", f"task.probe(n={n_probe}, seed=2)"]}
    e2_order, order = shuffled(e2, rng)  # the retest hands the networks over in another order
    key2 = ("probe2", cond, key, tuple(int(o) for o in order))
    runner.prefetch_pairwise([(("probe1", cond, key), e1), (key2, e2_order)])
    D1 = runner.pairwise(("probe1", cond, key), e1)
    D2 = np.empty((idx.size, idx.size))
    D2[np.ix_(order, order)] = runner.pairwise(key2, e2_order)
    if np.array_equal(D1, D2):
        detail["note"] = "identical matrices on both probe sets: the metric does not use the probe set"
    n = idx.size
    boot = rng.integers(0, n, size=(s.n_boot, n))
    value = stats.spearman(stats.off_diagonal(D1), stats.off_diagonal(D2))
    v1, _, _, _ = stats.pair_values(D1, boot)
    v2, _, _, _ = stats.pair_values(D2, boot)
    retest = (value, stats.spearman_masked_rows(v1, v2)) if np.isfinite(value) else None
    detail["test_retest_spearman"] = value if np.isfinite(value) else None

    # the null: each network against itself on the other probe set, below the distances between
    # networks on one probe set (one pair per network; the full cross would cost n²)
    self_d = _paired(runner, ("probe1", cond, key), e1, ("probe2", cond, key), e2, rng)
    between = stats.off_diagonal(D1)
    bw, _, _, _ = stats.pair_values(D1, boot)  # resampled pairs, a member with its own copy NaN
    sd = self_d[boot]
    positive = np.concatenate([np.ones(bw.shape[1], bool), np.zeros(n, bool)])
    auc = stats.auroc(between, self_d)
    null = (auc, stats.auroc_rows(np.concatenate([bw, sd], axis=1),
                                  np.broadcast_to(positive, (s.n_boot, positive.size))))
    med = float(np.median(between))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mb = np.nanmedian(bw, axis=1)
        ratio_reps = np.where(mb > 0, np.median(sd, axis=1) / np.where(mb > 0, mb, 1.0), np.nan)
    ratio = (float(np.median(self_d) / med), ratio_reps) if med > 0 else None
    detail.update(null_auroc=auc, self_distances=self_d.tolist(), median_between=med)
    return detail, [retest, null, ratio]


# --------------------------------------------------------------------------------------------
# 6. Sample size
# --------------------------------------------------------------------------------------------


def sample_size(ctx: Context, out: SuiteResult) -> None:
    """The ensemble-level estimate and its CI width with 4, 8, 12, 16 members."""
    s = ctx.settings
    cond = ctx.home
    idx = ctx.runner.members(cond)
    sizes = [k for k in s.sample_sizes if 2 <= k <= idx.size]
    if not sizes:
        out.status, out.message = "skipped", f"condition {cond!r} has only {idx.size} usable members"
        return
    rows: list[dict[str, Any]] = []
    out.details.update(condition=cond, sizes=rows, available_members=int(idx.size),
                       spread="CI width over random subsets of that size from the largest set computed")
    rng = ctx.rng("sample_size")
    largest: np.ndarray | None = None
    for k in sizes:
        sub = idx[:k]
        v, reps = degeneracy_with_reps(ctx, cond, sub, s.n_boot, rng)
        lo, hi = stats.interval(reps)
        largest = sub
        rows.append({"members": k, "value": v, "low": lo, "high": hi, "ci_width": hi - lo})
        out.scores[f"degeneracy_n{k}"] = Score(v, min(lo, hi), max(lo, hi), k)
        out.scores[f"ci_width_n{k}"] = Score.exact(hi - lo, k)
    # spread over random subsets, from the largest member set available (no new metric calls)
    assert largest is not None
    for row in rows:
        k = row["members"]
        widths, values = [], []
        for _ in range(s.subset_draws if k < largest.size else 1):
            pick = np.sort(rng.choice(largest, size=k, replace=False))
            v, reps = degeneracy_with_reps(ctx, cond, pick, min(s.n_boot, 200), rng)
            lo, hi = stats.interval(reps)
            widths.append(hi - lo)
            values.append(v)
        widths_a, values_a = np.asarray(widths), np.asarray(values)
        row.update(subset_value_std=float(values_a.std()), subset_ci_width_mean=float(widths_a.mean()))
        if widths_a.size > 1:
            lo, hi = np.quantile(widths_a, [0.025, 0.975])
            out.scores[f"ci_width_n{k}"] = Score(row["ci_width"], min(lo, row["ci_width"]),
                                                 max(hi, row["ci_width"]), k)


# --------------------------------------------------------------------------------------------
# 7. Agreement with the reference metric of the level
# --------------------------------------------------------------------------------------------


def agreement(ctx: Context, out: SuiteResult) -> None:
    """Spearman of this metric's pairwise distances with the reference metric's, same networks."""
    level = ctx.level
    ref_name = REFERENCE_METRICS.get(level or "")
    if ref_name is None:
        out.status, out.message = "skipped", f"no reference metric for level {level!r}"
        return
    ref = ctx.reference_runner(ref_name)
    if ref is None:
        out.status, out.message = "skipped", f"this is the reference metric of the {level} level ({ref_name})"
        return
    conds = ctx.groups[0] if ctx.groups else [ctx.home]
    sel = {c: ctx.members(c) for c in conds}
    out.details.update(reference=ref_name, conditions=conds, members={c: v.tolist() for c, v in sel.items()})
    D, labels = ctx.runner.block(conds, sel)
    R, _ = ref.block(conds, sel)
    value = stats.spearman(stats.off_diagonal(D), stats.off_diagonal(R))
    boot = stats.resample_within(labels, ctx.settings.n_boot, ctx.rng("agreement"))
    reps = stats.spearman_masked_rows(stats.pair_values(D, boot)[0], stats.pair_values(R, boot)[0])
    n = labels.size
    if (sc := stats.score(value, reps, n)) is not None:
        out.scores["spearman"] = sc
    else:
        out.details["undefined"] = "one of the pairwise matrices is constant"


# --------------------------------------------------------------------------------------------
# 8. Cost
# --------------------------------------------------------------------------------------------


def cost(ctx: Context, out: SuiteResult) -> None:
    """Seconds per pair and peak memory of one all-pairs call on fresh networks, and the run's
    process seconds per pair (``seconds_per_pair``: the same whatever ``--workers``).

    Memory: ``peak_traced_mb`` is tracemalloc's peak of Python and numpy allocations during the
    call (it does not see torch's allocator); ``peak_rss_delta_mb`` is the growth of the process's
    peak resident set (``resource.getrusage``), 0 when the process had been larger before.
    """
    import resource
    import time
    import tracemalloc

    runner, cond = ctx.runner, ctx.home
    idx = ctx.members(cond, 3)
    if idx.size < 2:
        out.status, out.message = "skipped", f"condition {cond!r} has fewer than 2 members"
        return
    ens = runner.ensemble(cond).subset(idx)  # a fresh object: nothing cached
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base_mem = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    try:
        runner.pairwise(("cost", cond, tuple(int(i) for i in idx)), ens, remember=False, parallel=False)
    finally:
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base_mem
        if not tracing:
            tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_pairs = idx.size * (idx.size - 1) // 2
    out.scores["seconds_per_pair_traced"] = Score.exact(seconds / n_pairs, n_pairs)
    out.scores["peak_traced_mb"] = Score.exact(peak / 2**20, idx.size)
    out.scores["peak_rss_delta_mb"] = Score.exact(max(0, rss1 - rss0) / 1024, idx.size)
    out.details.update(condition=cond, members=idx.tolist(), pairs=n_pairs, call_seconds=seconds,
                       memory_method="tracemalloc peak (Python + numpy; not torch) and "
                       "getrusage ru_maxrss growth (whole process)")
    per_call = [c for c in runner.total.per_call if c[2] > 0]
    compare = np.array([dt / u for kind, dt, u in per_call if kind == "compare"])
    embed = np.array([dt / u for kind, dt, u in per_call if kind != "compare"])
    total_pairs = runner.total.pairs
    if total_pairs:
        value = runner.total.process_seconds / total_pairs
        lo, hi = (np.quantile(compare, [0.025, 0.975]) if compare.size > 1 else (value, value))
        out.scores["seconds_per_pair"] = Score(value, min(lo, value), max(hi, value), total_pairs)
    if compare.size:
        v = sum(dt for kind, dt, _ in per_call if kind == "compare") / max(1, runner.total.pairs)
        lo, hi = np.quantile(compare, [0.025, 0.975])
        out.scores["compare_seconds_per_pair"] = Score(v, min(lo, v), max(hi, v), int(compare.size))
    if embed.size:
        v = runner.total.embed_seconds / max(1, runner.total.networks)
        lo, hi = np.quantile(embed, [0.025, 0.975])
        out.scores["embed_seconds_per_network"] = Score(v, min(lo, v), max(hi, v), int(embed.size))
    out.details["seconds_per_pair_definition"] = (
        "all metric time of the run (embed + compare) / pairs compared, in process seconds (a call "
        "cut into blocks on worker processes counts the sum of its blocks' times, so the figure "
        "does not depend on --workers); interval: 2.5-97.5 % of the per-call compare time per pair")


SUITE_FUNCTIONS: dict[str, Callable[[Context, SuiteResult], None]] = {
    "conformance": conformance,
    "calibration": calibration,
    "trend": trend,
    "discriminability": discriminability,
    "reliability": reliability,
    "sample_size": sample_size,
    "agreement": agreement,
    "cost": cost,
}
SUITES: tuple[str, ...] = tuple(SUITE_FUNCTIONS)
