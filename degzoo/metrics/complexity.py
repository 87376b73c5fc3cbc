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
``w`` steps: a delay shorter than the window needs no memory, one longer than it does. The
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
deterministic. degzoo instead reports a **held-out cross-entropy**: the trials are split in two
halves; a predictive model ``q(y | context)`` is counted on one half and its log loss
``-log2 q(y | context)`` averaged over the other; then the halves swap and the two results are
averaged (2-fold cross-fitting). The model is a variable-order Markov model smoothed by back-off
(PPM / Dirichlet smoothing with concentration β = ``smoothing``):

    q_{-1}(y)     = (n(y) + 1) / (N + K)                   (K target symbols seen)
    q_j(y | c_j)  = (n(c_j, y) + β q_{j-1}(y | c_{j-1})) / (n(c_j) + β),   j = 0 .. depth,

where the counts n come from the training half and ``c_j`` summarises the last ``j + 1`` steps;
an unseen context falls back on its parent. Two context families are used for memory demand,
and for each output channel the smaller held-out cross-entropy is kept:

- *window*: the exact input symbols of steps t-j .. t;
- *events*: for every input channel, its most recent value within steps t-j .. t that differs
  from the channel's most common value (its "last event"), or none. This summary of the window
  is dense where the exact window is sparse (several channels of pulses at many positions).

For the entropy rate the context is the channel's own past targets y_{c,t-j-1..t-1}.

Every context is a function of the window, so each held-out cross-entropy is, up to sampling
noise, an upper bound on the conditional entropy it estimates, converging to it as the sample
grows; the estimates err on the high side instead of collapsing to 0. With the default sample
size (about 120,000 pooled steps) they match the flip-flop's analytic values to within 2 % (see
``tests/test_complexity.py``), and one call takes well under 2 s for the default tasks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from degzoo.errors import InvalidParameterError

__all__ = ["memory_demand", "output_entropy_rate", "task_complexity"]

#: number of pooled (trial, time step) points an estimate uses when ``n_trials`` is not given
DEFAULT_POINTS = 120_000
_SEED_BASE = 20241003  # sampling streams: default_rng([_SEED_BASE, measure, seed])


def memory_demand(task: Any, n_trials: int | None = None, window: int = 10, bins: int = 9,
                  input_bins: int = 16, smoothing: float = 1.0, seed: int = 0) -> float:
    """Memory demand ``Σ_c H(y_{c,t} | x_{t-window..t})`` in bits (see the module docstring).

    ``n_trials`` defaults to enough trials for about 120,000 pooled time steps; ``window`` is
    the number of past input steps (besides the current one) that count as recent.
    """
    window = _check_int("memory_demand", "window", window, 0)
    n_trials, bins, input_bins = _check_common("memory_demand", task, n_trials, window, bins,
                                               smoothing, seed, input_bins)
    inputs, targets = task.sample(n_trials, np.random.default_rng([_SEED_BASE, 1, seed]))
    y = _target_bins(task, targets, bins)[:, window:, :]           # [n, P, O]
    per_channel = _input_bins(inputs, input_bins)                  # [n, T, I]
    t_len = per_channel.shape[1]

    # family "window": exact joint input symbols of the last j+1 steps
    step = _combine_channels(per_channel)
    win = [step[:, window:]]
    for j in range(1, window + 1):
        win.append(_pair(win[-1], step[:, window - j:t_len - j]))

    # family "events": per input channel, the last value within the window that is not its mode
    modes = [np.bincount(per_channel[..., i].reshape(-1)).argmax() for i in range(per_channel.shape[2])]
    last = per_channel[:, window:, :].copy()
    events = [_combine_channels(last)]
    for j in range(1, window + 1):
        older = per_channel[:, window - j:t_len - j, :]
        none = last == np.asarray(modes)[None, None, :]
        last = np.where(none, older, last)
        events.append(_combine_channels(last))

    half = _halves(y.shape[0], y.shape[1])
    total = 0.0
    for c in range(y.shape[2]):
        yc = y[..., c].reshape(-1)
        total += min(_crossfit(yc, win, half, smoothing), _crossfit(yc, events, half, smoothing))
    return total


def output_entropy_rate(task: Any, n_trials: int | None = None, order: int = 4, bins: int = 9,
                        smoothing: float = 1.0, seed: int = 0) -> float:
    """Entropy rate ``Σ_c H(y_{c,t} | y_{c,t-order..t-1})`` in bits per step (module docstring)."""
    order = _check_int("output_entropy_rate", "order", order, 1)
    n_trials, bins, _ = _check_common("output_entropy_rate", task, n_trials, order, bins,
                                      smoothing, seed, None)
    _, targets = task.sample(n_trials, np.random.default_rng([_SEED_BASE, 2, seed]))
    sym = _target_bins(task, targets, bins)                        # [n, T, O]
    t_len = sym.shape[1]
    half = _halves(sym.shape[0], t_len - order)
    total = 0.0
    for c in range(sym.shape[2]):
        s = sym[..., c]
        contexts = [s[:, order - 1:t_len - 1]]
        for k in range(2, order + 1):
            contexts.append(_pair(contexts[-1], s[:, order - k:t_len - k]))
        total += _crossfit(s[:, order:].reshape(-1), contexts, half, smoothing)
    return total


def task_complexity(task: Any, seed: int = 0, **kwargs: Any) -> dict[str, float]:
    """Both measures: ``{"memory_demand": bits, "output_entropy_rate": bits per step}``.

    ``kwargs`` may hold ``n_trials``, ``bins`` and ``smoothing`` (passed to both measures),
    ``window`` and ``input_bins`` (memory demand) and ``order`` (entropy rate).
    """
    allowed = {"n_trials", "bins", "smoothing", "window", "input_bins", "order"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InvalidParameterError(
            f"task_complexity: unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(sorted(allowed))}"
        )
    common = {k: kwargs[k] for k in ("n_trials", "bins", "smoothing") if k in kwargs}
    md = {k: kwargs[k] for k in ("window", "input_bins") if k in kwargs}
    er = {k: kwargs[k] for k in ("order",) if k in kwargs}
    return {
        "memory_demand": memory_demand(task, seed=seed, **common, **md),
        "output_entropy_rate": output_entropy_rate(task, seed=seed, **common, **er),
    }


# -- discretisation ----------------------------------------------------------------------------
def _compact(a: np.ndarray) -> np.ndarray:
    """Relabel the values of ``a`` as 0 .. (number of distinct values - 1), keeping the shape."""
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


def _input_bins(inputs: np.ndarray, input_bins: int) -> np.ndarray:
    x = inputs.astype(np.float64)
    codes = np.empty(x.shape, dtype=np.int64)
    for c in range(x.shape[2]):
        col = x[..., c]
        values, inverse = np.unique(col, return_inverse=True)
        if len(values) <= input_bins:
            codes[..., c] = inverse.reshape(col.shape)
        else:
            lo, hi = values[0], values[-1]
            codes[..., c] = np.clip(np.floor((col - lo) / (hi - lo) * input_bins), 0, input_bins - 1)
    return codes


# -- estimator ---------------------------------------------------------------------------------
def _halves(n_trials: int, points_per_trial: int) -> np.ndarray:
    """Flat boolean mask of the first half of the trials (the two cross-fitting folds)."""
    first = np.zeros(n_trials, dtype=bool)
    first[: n_trials // 2] = True
    return np.repeat(first, points_per_trial)


def _crossfit(y: np.ndarray, contexts: list[np.ndarray], half: np.ndarray, beta: float) -> float:
    """Held-out cross-entropy (bits) of the back-off model, averaged over the two folds.

    ``y`` is flat; ``contexts`` are ``[n, P]`` compact symbol arrays from the shortest context to
    the longest, each a refinement of the one before.
    """
    flat = [c.reshape(-1) for c in contexts]
    return 0.5 * (_heldout(y, flat, half, ~half, beta) + _heldout(y, flat, ~half, half, beta))


def _heldout(y: np.ndarray, contexts: list[np.ndarray], train: np.ndarray, test: np.ndarray,
             beta: float) -> float:
    y_tr, y_te = y[train], y[test]
    n_sym = int(y.max()) + 1
    seen = int(np.count_nonzero(np.bincount(y, minlength=n_sym)))
    q = (np.bincount(y_tr, minlength=n_sym)[y_te] + 1.0) / (len(y_tr) + seen)
    for ctx in contexts:
        c_tr, c_te = ctx[train], ctx[test]
        size = int(ctx.max()) + 1
        n_ctx = np.bincount(c_tr, minlength=size)[c_te]
        n_joint = np.bincount(c_tr * n_sym + y_tr, minlength=size * n_sym)[c_te * n_sym + y_te]
        q = (n_joint + beta * q) / (n_ctx + beta)
    return float(-np.mean(np.log2(q)))


# -- checks ------------------------------------------------------------------------------------
def _check_int(where: str, field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"{where}: {field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_common(where: str, task: Any, n_trials: Any, depth: int, bins: Any, smoothing: Any,
                  seed: Any, input_bins: Any) -> tuple[int, int, int | None]:
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
    if isinstance(smoothing, bool) or not isinstance(smoothing, int | float) or not smoothing > 0:
        raise InvalidParameterError(f"{where}: smoothing must be a number > 0, got {smoothing!r}")
    return n_trials, bins, input_bins
