"""Information-theoretic task complexity, estimated by sampling a task's generator.

Version 1 of the source paper measured task complexity information-theoretically, but its
definitions are not available, so degzoo defines its own two measures. Both are sums over the
task's output channels of conditional entropies of the discretised **target** at a time step,
in bits, pooled over trials and over every time step t that has a full context.

Discretisation
--------------
- Targets: each output channel is cut into ``bins`` equal-width bins over the task's
  ``output_range`` ([-1, 1]; path integration [-5, 5]). The default ``bins = 9`` is odd so that
  0 is a bin centre (a target that is 0 up to rounding never straddles a bin edge); ±1 fall in
  the outer bins.
- Inputs (memory demand only): an input channel with at most ``input_bins`` distinct values in
  the sample (pulses, static codes) keeps its values exactly; any other channel is cut into
  ``input_bins`` equal-width bins over its sampled range. The symbol of a step is the tuple of
  its channels' symbols.

Definitions
-----------
**Memory demand** (bits): what each target channel c still depends on once the recent ``w + 1``
input steps are known, summed over channels,

    M_w = Σ_c H(y_{c,t} | x_{t-w}, ..., x_t)  =  Σ_c I(y_{c,t} ; past beyond the window | window).

The equality holds because every task's target is a deterministic function of its whole input
history, including how long ago the trial started (so for the sine task the elapsed time — the
phase — counts as memory). M_w counts the bits that must be carried from further back than
``w`` steps: a delay shorter than the window needs no memory, one longer than it does (so
for delayed discrimination M_w grows with the delay until the delays exceed the window, then
levels off; pass a larger ``window`` to resolve longer delays). The
per-channel sum equals the joint H(y_t | window) when the channels are independent
(flip-flop) and bounds it from above otherwise: each output channel's demand counts. For the
N-bit flip-flop with pulse probability p (every channel pulses at step 0) and trial length T,

    M_w = N (1 - p)^(w+1) (T - w - 1) / (T - w),

which tends to N bits as p → 0: each channel's state is one balanced bit that has to be held
whenever that channel has no pulse inside the window. Default window w = 10 steps.

**Output entropy rate** (bits per step): the block-entropy difference of each target channel's
sequence, summed over channels,

    h_k = Σ_c [H(y_{c,t-k..t}) - H(y_{c,t-k..t-1})] = Σ_c H(y_{c,t} | y_{c,t-k}, ..., y_{c,t-1}),

which decreases towards the channels' entropy rates as k grows. Default order k = 4. For the
flip-flop each channel is a Markov chain that flips with probability p/2 per step, so
``h_k = N · h2(p/2)`` for every k >= 1, with h2 the binary entropy.

Estimator
---------
Plug-in estimates of conditional entropies collapse towards 0 once the context (a window of
continuous inputs, say) is too rich to be seen many times: every context is seen once and looks
deterministic. degzoo instead reports a **held-out cross-entropy**: the sampled trials are split
in two halves; a predictive model ``q(y | context)`` is counted on one half and its log loss
``-log2 q(y | context)`` is averaged over the other; then the halves swap and the two results
are averaged (2-fold cross-fitting). The model is a variable-order Markov model with
Witten–Bell back-off (as in PPM compression):

    q_{-1}(y)     = (n(y) + 1) / (N + K)                          (K target symbols)
    q_j(y | c_j)  = (n(c_j, y) + u(c_j) q_{j-1}(y | c_{j-1})) / (n(c_j) + u(c_j)),

for depths j = 0 .. w (memory demand) or 0 .. k-1 (entropy rate), where the counts n come from
the training half, u(c) is the number of distinct target symbols seen after context c, ``c_j``
summarises the last ``j + 1`` steps, and a context never seen in training keeps its parent's
q. Every depth j is scored and the smallest log loss is kept (depth selection), so a context
too rich for the sample never makes the estimate worse than a shorter one.

Context families — memory demand keeps, for each output channel, the best of:

- the exact joint input symbols of steps t-j .. t;
- for each input channel with few distinct values (pulses, static codes), the exact window of
  that channel alone (dense where the joint window of many pulse channels is sparse).

Because a suffix context is only refined towards older steps, the step of the most recent
pulse is reached at a shallow, well-sampled depth; deeper, unseen contexts keep that
prediction.

The entropy rate uses the channel's own past targets ``y_{c,t-j-1..t-1}``.

Every context is a function of the window (or of the past targets), so each held-out
cross-entropy is, up to sampling noise, an upper bound on the conditional entropy it estimates,
converging to it as the sample grows: the estimates err on the high side instead of collapsing
to 0. With the default sample (about 50,000 pooled time steps) they match the flip-flop's
analytic values to within 3 % (memory demand) and 4 % (entropy rate), see
``tests/test_complexity.py``; a call takes about 0.05–1 s for
the default tasks on one core. Sampling uses its own stream,
``np.random.default_rng([20241003, measure, seed])``, so results are reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from degzoo.errors import InvalidParameterError

__all__ = ["memory_demand", "output_entropy_rate", "task_complexity"]

#: number of pooled (trial, time step) points an estimate uses when ``n_trials`` is not given
DEFAULT_POINTS = 50_000
_SEED_BASE = 20241003  # sampling streams: default_rng([_SEED_BASE, measure, seed])


def memory_demand(task: Any, n_trials: int | None = None, window: int = 10, bins: int = 9,
                  input_bins: int = 16, seed: int = 0) -> float:
    """Memory demand ``Σ_c H(y_{c,t} | x_{t-window..t})`` in bits (see the module docstring).

    ``n_trials`` defaults to enough trials for about 50,000 pooled time steps; ``window`` is
    the number of past input steps (besides the current one) that count as recent.
    """
    window = _check_int("memory_demand", "window", window, 0)
    n_trials, bins, input_bins = _check_common("memory_demand", task, n_trials, window, bins,
                                               seed, input_bins)
    inputs, targets = task.sample(n_trials, np.random.default_rng([_SEED_BASE, 1, seed]))
    y = _target_bins(task, targets, bins)[:, window:, :]           # [n, P, O]
    per_channel, exact = _input_bins(inputs, input_bins)           # [n, T, I], [I]

    step = _combine_channels(per_channel)
    families = [_suffixes(step, window)]                           # exact window of all inputs
    if per_channel.shape[2] > 1:                                   # window of one discrete input
        families += [_suffixes(per_channel[..., i], window) for i in np.flatnonzero(exact)]

    ys = [y[..., c] for c in range(y.shape[2])]
    per_family = np.array([_crossfit(ys, fam) for fam in families])
    return float(per_family.min(axis=0).sum())


def output_entropy_rate(task: Any, n_trials: int | None = None, order: int = 4, bins: int = 9,
                        seed: int = 0) -> float:
    """Entropy rate ``Σ_c H(y_{c,t} | y_{c,t-order..t-1})`` in bits per step (module docstring)."""
    order = _check_int("output_entropy_rate", "order", order, 1)
    n_trials, bins, _ = _check_common("output_entropy_rate", task, n_trials, order, bins,
                                      seed, None)
    _, targets = task.sample(n_trials, np.random.default_rng([_SEED_BASE, 2, seed]))
    sym = _target_bins(task, targets, bins)                        # [n, T, O]
    total = 0.0
    for c in range(sym.shape[2]):
        s = sym[..., c]
        contexts = _suffixes(s[:, :-1], order - 1)
        total += float(_crossfit([s[:, order:]], contexts)[0])
    return total


def task_complexity(task: Any, seed: int = 0, **kwargs: Any) -> dict[str, float]:
    """Both measures: ``{"memory_demand": bits, "output_entropy_rate": bits per step}``.

    ``kwargs`` may hold ``n_trials`` and ``bins`` (passed to both measures),
    ``window`` and ``input_bins`` (memory demand) and ``order`` (entropy rate).
    """
    allowed = {"n_trials", "bins", "window", "input_bins", "order"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InvalidParameterError(
            f"task_complexity: unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(sorted(allowed))}"
        )
    common = {k: kwargs[k] for k in ("n_trials", "bins") if k in kwargs}
    md = {k: kwargs[k] for k in ("window", "input_bins") if k in kwargs}
    er = {k: kwargs[k] for k in ("order",) if k in kwargs}
    return {
        "memory_demand": memory_demand(task, seed=seed, **common, **md),
        "output_entropy_rate": output_entropy_rate(task, seed=seed, **common, **er),
    }


# -- discretisation ----------------------------------------------------------------------------
def _compact(a: np.ndarray) -> np.ndarray:
    """Relabel the non-negative values of ``a`` as 0 .. (number of distinct values - 1),
    in increasing order, keeping the shape."""
    top = int(a.max(initial=0))
    if top < max(4 * a.size, 1 << 16):  # a lookup table is faster than sorting
        present = np.zeros(top + 1, dtype=bool)
        present[a] = True
        return (np.cumsum(present) - 1)[a]
    return np.unique(a, return_inverse=True)[1].reshape(a.shape).astype(np.int64)


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Compact joint symbol of two non-negative symbol arrays of the same shape."""
    return _compact(a * (int(b.max(initial=0)) + 1) + b)


def _combine_channels(codes: np.ndarray) -> np.ndarray:
    """``[n, T, C]`` non-negative per-channel symbols -> ``[n, T]`` compact joint symbols."""
    radix = [int(codes[..., c].max(initial=0)) + 1 for c in range(codes.shape[2])]
    if math.prod(radix) < 2**62:  # mixed-radix code in one pass, then one relabelling
        out = np.zeros(codes.shape[:2], dtype=np.int64)
        for c, r in enumerate(radix):
            out = out * r + codes[..., c]
        return _compact(out)
    out = _compact(codes[..., 0])
    for c in range(1, codes.shape[2]):
        out = _pair(out, codes[..., c])
    return out


def _target_bins(task: Any, targets: np.ndarray, bins: int) -> np.ndarray:
    lo, hi = task.output_range
    idx = np.floor((targets.astype(np.float64) - lo) / (hi - lo) * bins)
    return np.clip(idx, 0, bins - 1).astype(np.int64)


def _input_bins(inputs: np.ndarray, input_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel input symbols ``[n, T, I]`` and which channels kept their exact values."""
    x = inputs.astype(np.float64)
    codes = np.empty(x.shape, dtype=np.int64)
    exact = np.zeros(x.shape[2], dtype=bool)
    for c in range(x.shape[2]):
        col = x[..., c]
        values, inverse = np.unique(col, return_inverse=True)
        if len(values) <= input_bins:
            codes[..., c] = inverse.reshape(col.shape)
            exact[c] = True
        else:
            lo, hi = values[0], values[-1]
            codes[..., c] = np.clip(np.floor((col - lo) / (hi - lo) * input_bins), 0, input_bins - 1)
    return codes, exact


# -- context families ------------------------------------------------------------------------
def _suffixes(sym: np.ndarray, depth: int) -> list[np.ndarray]:
    """Contexts ``sym[t-j .. t]`` for j = 0 .. depth and t = depth .. T-1, as ``[n, T-depth]``."""
    t_len = sym.shape[1]
    levels = [_compact(sym[:, depth:])]
    for j in range(1, depth + 1):
        levels.append(_pair(levels[-1], sym[:, depth - j:t_len - j]))
    return _refining(levels)


def _refining(levels: list[np.ndarray]) -> list[np.ndarray]:
    """Drop levels that do not refine the one before; stop once every context is unique
    (deeper levels are then never seen in the training half and change nothing)."""
    out: list[np.ndarray] = []
    previous = -1
    for level in levels:
        distinct = int(level.max(initial=-1)) + 1
        if distinct > previous:
            out.append(level)
            previous = distinct
        if distinct >= level.size:
            break
    return out


# -- estimator ---------------------------------------------------------------------------------
def _crossfit(ys: list[np.ndarray], contexts: list[np.ndarray]) -> np.ndarray:
    """Held-out cross-entropy (bits) of the back-off model for each target array in ``ys``.

    ``ys`` and ``contexts`` are ``[n, P]`` arrays (trials first); ``contexts`` are compact
    symbols from the shortest context to the longest, each a refinement of the one before. The
    model is counted on the first half of the trials and scored on the second, then the other
    way round, and the two log losses are averaged. Returned: for each target, the smallest
    log loss over the context depths (-1 = no context, up to the full depth).
    """
    split = (ys[0].shape[0] // 2) * ys[0].shape[1]
    folds = ((slice(0, split), slice(split, None)), (slice(split, None), slice(0, split)))
    flat_y = [_compact(y).reshape(-1) for y in ys]
    n_sym = [int(y.max()) + 1 for y in flat_y]
    q: dict[tuple[int, int], np.ndarray] = {}
    best = np.full(len(ys), np.inf)

    def score(k: int) -> None:
        loss = 0.5 * float(-np.mean(np.log2(q[k, 0])) - np.mean(np.log2(q[k, 1])))
        best[k] = min(best[k], loss)

    for k, y in enumerate(flat_y):  # depth -1: Laplace-smoothed marginal over the K symbols
        for f, (train, test) in enumerate(folds):
            counts = np.bincount(y[train], minlength=n_sym[k])
            q[k, f] = (counts[y[test]] + 1.0) / (len(y[train]) + n_sym[k])
        score(k)
    for ctx in contexts:
        c = ctx.reshape(-1)
        size = int(c.max()) + 1
        n_ctx = [np.bincount(c[train], minlength=size)[c[test]] for train, test in folds]
        for k, y in enumerate(flat_y):
            key = c * n_sym[k] + y
            for f, (train, test) in enumerate(folds):
                joint = np.bincount(key[train], minlength=size * n_sym[k])
                kinds = np.count_nonzero(joint.reshape(size, n_sym[k]), axis=1)[c[test]]
                # Witten-Bell: back off in proportion to the number of distinct symbols seen;
                # a context never seen in training (n = kinds = 0) keeps its parent's q
                seen = n_ctx[f] > 0
                q[k, f] = np.where(seen, (joint[key[test]] + kinds * q[k, f])
                                   / np.where(seen, n_ctx[f] + kinds, 1), q[k, f])
            score(k)
    return best


# -- checks ------------------------------------------------------------------------------------
def _check_int(where: str, field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"{where}: {field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_common(where: str, task: Any, n_trials: Any, depth: int, bins: Any, seed: Any,
                  input_bins: Any) -> tuple[int, int, int | None]:
    for attr in ("sample", "trial_length", "output_range"):
        if not hasattr(task, attr):
            raise InvalidParameterError(
                f"{where}: expected a degzoo task (e.g. degzoo.tasks.get_task('flipflop')), "
                f"got {type(task).__name__} without {attr!r}"
            )
    t_len = int(task.trial_length)
    if depth >= t_len:
        raise InvalidParameterError(
            f"{where}: a context of {depth} past steps does not fit in a trial of {t_len} steps; "
            f"use at most {t_len - 1}"
        )
    if n_trials is None:
        n_trials = max(2, math.ceil(DEFAULT_POINTS / (t_len - depth)))
    n_trials = _check_int(where, "n_trials", n_trials, 2)
    bins = _check_int(where, "bins", bins, 2)
    if input_bins is not None:
        input_bins = _check_int(where, "input_bins", input_bins, 2)
    _check_int(where, "seed", seed, 0)
    return n_trials, bins, input_bins
