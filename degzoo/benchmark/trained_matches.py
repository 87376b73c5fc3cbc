"""Different solutions trained to carry another network's dynamics spectrum.

A summary of a network's dynamics, its finite-time Lyapunov exponents along the probe trajectories,
the Jacobian eigenvalues at its fixed points or the eigenvalues of the DMD operator fitted to its
trajectories, is blind to which unit is which, and no transform of a tanh network can make a
different solution share it: only relabelling and sign flips conjugate the dynamics exactly, and
those give the same solution. So the ground truth against a metric that reads such a spectrum is
trained: another member B of the condition, fine-tuned from its own weights on its task while a
second loss pulls its spectrum onto member A's, exactly as the metric that reads it computes it
(:class:`~degzoo.metrics.baselines.LyapunovSpectrum`,
:class:`~degzoo.metrics.baselines.FixedPointSpectrum`, :class:`~degzoo.metrics.dsa.DSAWasserstein`
at their defaults). The result still solves the task and is another solution than A, many
near-twins away from it in DSA; a reader of that spectrum puts it beside A.

Training takes about a minute per network at 64 units, so every matched network is kept, keyed by
a sha256 of everything it depends on (:func:`match_key`): first looked up in the networks shipped
with degzoo for the embedded zoo and zoo-v2 (``degzoo/reference/matched/``), then in the user's
cache (``$DEGZOO_CACHE/matched``, default ``~/.cache/degzoo/matched``), else trained (seeded by the
key, with a progress bar) and written to the cache. Files are plain ``.npz`` arrays read with
``allow_pickle=False``; one whose recorded key does not match its name is not used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from degzoo.errors import InvalidParameterError
from degzoo.files import write_atomically
from degzoo.metrics.base import checkpoint
from degzoo.metrics.baselines import FixedPointSpectrum, LyapunovSpectrum
from degzoo.metrics.dsa import DSAWasserstein, dmd_operator, spectrum_distance
from degzoo.metrics.fixed_points import autonomous_step, find_fixed_points, starting_states, step_jacobian
from degzoo.metrics.lyapunov import trial_exponents
from degzoo.models import PARAM_NAMES, Architecture
from degzoo.models.rnn import forward
from degzoo.progress import progress_bar
from degzoo.tasks.base import Task
from degzoo.threads import with_compute_threads

__all__ = ["TRAINED_STATISTICS", "FineTune", "match_key", "trained_match", "trained_matches"]

Params = dict[str, np.ndarray]

#: Version of the training below: part of every key, so that a change of method retrains.
METHOD_VERSION = 2

#: Environment variable naming degzoo's cache folder (matched networks go to its ``matched/``).
CACHE_ENV = "DEGZOO_CACHE"


@dataclass(frozen=True)
class FineTune:
    """How a member is fine-tuned to carry another's spectrum: Adam at ``lr`` (× ``final_lr_factor``
    for the last 30 % of at most ``steps``), gradients clipped to norm 1, ``batch`` task trials per
    step; loss = task MSE + ``weight`` × spectrum mismatch. Training stops once the measured
    mismatch is at most ``stop_ratio`` × the first one (a 1 % near-twin sits at about 5 % of the
    distance between two members); the iterate with the smallest measured mismatch is kept. An
    attempt that ends above it is followed by another from the source's weights with the next
    seed (task batches), up to ``attempts`` in all, and the best one is kept: fixed points can
    get stuck where the two networks have different numbers of them."""

    steps: int
    lr: float
    weight: float
    batch: int = 64
    final_lr_factor: float = 0.2
    stop_ratio: float = 0.01
    attempts: int = 1


#: Per statistic, its fine-tuning, chosen on zoo-v2's flip-flop 3-bit members (64 units) so that
#: the mismatch ends below a 1 % near-twin's distance with the task kept (MSE ~2e-4, threshold
#: 1e-3): Lyapunov RMS 5e-5 after 100 steps (twin 1.6e-3, another member 2.5e-2); fixed-point W1
#: 1e-4 to 1.2e-3 after 1000 steps on three pairs (twin 2.3e-3, another member 0.19-0.34; 600 steps
#: at weight 0.3 left 7e-4 to 5e-3). The embedded zoo's 32-unit members need more on some pairs.
#: DMD spectrum: its score is a *squared* distance, so it stops at 1e-4 of the first (1 % in
#: distance; a 1 % near-twin sits at 6e-4 to 1e-2 of another member); 400 steps at weight 10 reached
#: 1.6e-6 to 3.8e-6 from 0.016-0.025 on three of four zoo-v2 pairs (twins 9e-6) with MSE ~2e-4, and
#: weight 100 cost task accuracy; the fourth stalled at 35 % until reals were matched to reals
#: (:class:`_DMDSpectrumGap`), then reached 3e-4 of it (a smoothed assignment and a loss on the
#: characteristic polynomial had not moved it).
TRAINED_STATISTICS: dict[str, FineTune] = {
    "lyapunov": FineTune(steps=400, lr=1e-3, weight=100.0),
    "fixed_points": FineTune(steps=2000, lr=1e-3, weight=1.0, final_lr_factor=0.1, attempts=3),
    "dmd_spectrum": FineTune(steps=400, lr=1e-3, weight=10.0, stop_ratio=1e-4),
}


class _LyapunovGap:
    """Squared RMS difference of the trial-sorted, trial-averaged exponents (LyapunovSpectrum's
    embedding) from the target's, on the whole probe set."""

    def __init__(self, target: dict[str, torch.Tensor], arch: Architecture, probe: torch.Tensor) -> None:
        self.metric, self.arch, self.probe = LyapunovSpectrum(), arch, probe
        with torch.no_grad():
            self.target = self.embed(target)

    def embed(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        drive = self.probe @ p["W_in"].T + p["b"]
        ex = trial_exponents(p["W_hh"], drive, self.arch, self.metric.n_exponents, warmup=self.metric.warmup,
                             stretch_floor=self.metric.stretch_floor)
        return torch.sort(ex, dim=1, descending=True).values.mean(0)

    def __call__(self, p: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float | None]:
        sq = ((self.embed(p) - self.target) ** 2).mean()
        return sq, float(sq.detach()) ** 0.5


class _FixedPointGap:
    """Mean |λ − μ| over the matched pooled eigenvalues at the fixed points (FixedPointSpectrum's
    distance). The points are found again every ``refresh`` steps; in between, each is moved by one
    Newton step, which is zero at a fixed point but carries its dependence on the weights."""

    refresh = 5

    def __init__(self, target: dict[str, torch.Tensor], arch: Architecture, probe: torch.Tensor) -> None:
        self.metric, self.arch, self.probe = FixedPointSpectrum(), arch, probe
        self.points: torch.Tensor | None = None
        with torch.no_grad():
            self.target = self.eigenvalues(target, self.find(target))

    def find(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.metric
        with torch.no_grad():
            params = {k: v[None] for k, v in p.items()}
            rates = forward(params, self.probe, self.arch)[1][0].numpy()
        fp = find_fixed_points(p["W_hh"].detach().numpy(), p["b"].detach().numpy(), self.arch,
                               starting_states(rates, m.n_starts, self.arch), iterations=m.iterations,
                               tolerance=m.tolerance, dedup_tolerance=m.dedup_tolerance)
        return torch.as_tensor(fp.points[np.arange(m.n_points) % len(fp)])

    def eigenvalues(self, p: dict[str, torch.Tensor], points: torch.Tensor) -> torch.Tensor:
        W, b = p["W_hh"], p["b"]
        eye = torch.eye(W.shape[0], dtype=W.dtype)
        residual = autonomous_step(points, W, b, self.arch) - points
        newton = torch.linalg.solve(eye - step_jacobian(points, W, b, self.arch), residual[..., None])
        moved = points + newton[..., 0]
        ev = torch.linalg.eigvals(step_jacobian(moved, W, b, self.arch))
        top = torch.argsort(-ev.abs().detach(), dim=1, stable=True)[:, : self.metric.n_eigs]
        ev = torch.gather(ev, 1, top).reshape(-1)
        return torch.complex(ev.real, ev.imag.abs())

    def __call__(self, p: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float | None]:
        fresh = step % self.refresh == 0
        if fresh:
            self.points = self.find(p)
        ev = self.eigenvalues(p, self.points)
        cost = (ev.detach()[:, None] - self.target[None, :]).abs().numpy()
        rows, cols = linear_sum_assignment(cost)
        gap = (ev[rows] - self.target[cols]).abs().mean()
        return gap, float(gap.detach()) if fresh else None


class _DMDSpectrumGap:
    """The squared 2-Wasserstein distance between the eigenvalues of the DMD operators fitted to the
    probe trajectories (dsa_wasserstein's score, measured exactly). The gradient follows another
    assignment with the same optimum: eigenvalues folded into the upper half-plane (``re + i|im|``),
    so that a conjugate pair is pulled as one, and, while both spectra have as many real eigenvalues,
    reals matched to reals and pairs to pairs: a real eigenvalue cannot leave the real axis alone,
    so the free assignment, which sends one towards a target's complex pair, stalls (on the
    embedded zoo at 40-75 % of the first mismatch on 5 of 13 pairs; with this one 12 of the 13
    end at 0.1-0.3 %)."""

    real_tolerance = 1e-9

    def __init__(self, target: dict[str, torch.Tensor], arch: Architecture, probe: torch.Tensor) -> None:
        self.metric, self.arch, self.probe = DSAWasserstein(), arch, probe
        with torch.no_grad():
            self.target = self.eigenvalues(target)

    def eigenvalues(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.metric
        rates = forward({k: v[None] for k, v in p.items()}, self.probe, self.arch)[1][0]
        op = dmd_operator(rates, m.n_delays, m.rank, m.delay_interval, m.lamb, differentiable=True)
        return torch.linalg.eigvals(op)

    def __call__(self, p: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float | None]:
        ev = self.eigenvalues(p)
        measured = spectrum_distance(ev.detach().numpy(), self.target.numpy())
        folded, target = (torch.complex(e.real, e.imag.abs()) for e in (ev, self.target))
        real, target_real = (e.detach().imag.abs().numpy() < self.real_tolerance for e in (ev, self.target))
        if real.sum() == target_real.sum():
            classes = [(real, target_real), (~real, ~target_real)]
        else:
            classes = [(np.ones_like(real), np.ones_like(target_real))]
        rows, cols = [], []
        for mine, theirs in classes:
            i, j = np.flatnonzero(mine), np.flatnonzero(theirs)
            cost = (folded.detach()[i][:, None] - target[j][None, :]).abs().numpy() ** 2
            r, c = linear_sum_assignment(cost)
            rows.append(i[r])
            cols.append(j[c])
        r, c = np.concatenate(rows), np.concatenate(cols)
        return ((folded[r] - target[c]).abs() ** 2).mean(), measured


_GAPS: dict[str, Callable[..., Any]] = {"lyapunov": _LyapunovGap, "fixed_points": _FixedPointGap,
                                        "dmd_spectrum": _DMDSpectrumGap}


@with_compute_threads
def trained_match(source: Params, target: Params, statistic: str, arch: Architecture, task: Task,
                  probe_inputs: np.ndarray, *, seed: int) -> tuple[Params, dict[str, float]]:
    """``source`` fine-tuned on ``task`` to carry ``target``'s ``statistic`` (one member each,
    effective weights), in float64, on degzoo's compute threads (one by default: a busy machine
    makes more threads many times slower); returns its weights in ``source``'s dtypes and
    ``{"mismatch_before", "mismatch", "task_mse"}`` (MSE on the task's standard probe set of the
    probe inputs' size, a record, not used by the suites)."""
    tune = TRAINED_STATISTICS[statistic]
    probe = torch.as_tensor(np.asarray(probe_inputs, np.float64))
    as_torch = {k: torch.as_tensor(np.asarray(v, np.float64)) for k, v in target.items()}
    best: tuple[float, float, dict[str, torch.Tensor]] | None = None
    for attempt in range(tune.attempts):
        gap = _GAPS[statistic](as_torch, arch, probe)
        first, mismatch, params = _fine_tune(source, gap, arch, task, tune, seed + attempt)
        if best is None or mismatch < best[1]:
            best = (first, mismatch, params)
        if mismatch <= tune.stop_ratio * first:
            break
    assert best is not None
    out = {k: best[2][k].numpy().astype(np.asarray(source[k]).dtype) for k in PARAM_NAMES}
    x, y = (torch.as_tensor(a, dtype=torch.float64) for a in task.probe(np.shape(probe_inputs)[0]))
    with torch.no_grad():
        mse = float(((forward({k: torch.as_tensor(v, dtype=torch.float64)[None] for k, v in out.items()},
                              x, arch)[0][0] - y) ** 2).mean())
    return out, {"mismatch_before": best[0], "mismatch": best[1], "task_mse": mse}


def _fine_tune(source: Params, gap: Callable[..., Any], arch: Architecture, task: Task, tune: FineTune,
               seed: int) -> tuple[float, float, dict[str, torch.Tensor]]:
    """One attempt: (first mismatch, best mismatch, the weights where it was measured); ``seed``
    draws the task batches, the only randomness."""
    rng = np.random.default_rng(seed)
    p = {k: torch.tensor(np.asarray(v, np.float64), requires_grad=True) for k, v in source.items()}
    opt = torch.optim.Adam(p.values(), lr=tune.lr)
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    first = None
    for step in range(tune.steps):
        checkpoint()  # a cancelled suite stops here
        if step == int(0.7 * tune.steps):
            for group in opt.param_groups:
                group["lr"] = tune.lr * tune.final_lr_factor
        x, y = (torch.as_tensor(a, dtype=torch.float64) for a in task.sample(tune.batch, rng))
        task_loss = ((forward({k: v[None] for k, v in p.items()}, x, arch)[0][0] - y) ** 2).mean()
        mismatch, measured = gap(p, step)
        if measured is not None:
            first = measured if first is None else first
            if best is None or measured < best[0]:
                best = (measured, {k: v.detach().clone() for k, v in p.items()})
            if measured <= tune.stop_ratio * first:
                break
        opt.zero_grad()
        (task_loss + tune.weight * mismatch).backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        opt.step()
    assert best is not None and first is not None  # step 0 always measures
    return first, best[0], best[1]


def match_key(source: Params, target: Params, statistic: str, arch: Architecture, task: Task,
              probe_inputs: np.ndarray) -> str:
    """sha256 of everything a trained match depends on: the method, its settings, the two
    networks' weights, the architecture, the task and the probe inputs."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": METHOD_VERSION, "statistic": statistic,
                         "fine_tune": asdict(TRAINED_STATISTICS[statistic]), "arch": repr(arch),
                         "task": task.to_dict()}, sort_keys=True).encode())
    for params in (source, target):
        for k in PARAM_NAMES:
            a = np.ascontiguousarray(params[k])
            h.update(f"{k}{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    a = np.ascontiguousarray(probe_inputs, dtype=np.float32)
    h.update(f"{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def shipped_folder() -> Path:
    """The matched networks shipped with degzoo (for the embedded zoo's and zoo-v2's suites)."""
    return Path(str(resources.files("degzoo") / "reference" / "matched"))


def cache_folder() -> Path:
    """Where trained matches are kept: ``$DEGZOO_CACHE/matched`` (default ``~/.cache/degzoo``)."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "degzoo")
    return Path(root) / "matched"


def _read(path: Path, key: str) -> tuple[Params, dict[str, float]] | None:
    """A kept match, or None when the file is missing, unreadable or not this key's."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                raise ValueError(f"it records key {str(f['key'])[:12]}…")
            params = {k: f[k].copy() for k in PARAM_NAMES}
            info = {k: float(f[k]) for k in ("mismatch_before", "mismatch", "task_mse")}
    except Exception as exc:  # any unreadable file is trained again, never used
        warnings.warn(f"matched network {path} is not usable ({exc}); training it again", stacklevel=3)
        return None
    return params, info


def _write(path: Path, key: str, params: Params, info: dict[str, float]) -> None:
    """Write atomically, so that a stopped run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), **params, **{k: np.array(v) for k, v in info.items()})
    write_atomically(path, buffer.getvalue())


def trained_matches(sources: Sequence[Params], targets: Sequence[Params], statistic: str, arch: Architecture,
                    task: Task, probe_inputs: np.ndarray, *, progress: bool = True
                    ) -> tuple[list[Params], list[dict[str, float]]]:
    """``sources[k]`` trained to carry ``targets[k]``'s ``statistic`` for every k, each from the
    shipped networks, the cache, or trained now and cached (see the module docstring)."""
    if statistic not in TRAINED_STATISTICS:
        raise InvalidParameterError(f"unknown trained statistic {statistic!r}; "
                                    f"one of {sorted(TRAINED_STATISTICS)}")
    out: list[Params] = []
    infos: list[dict[str, float]] = []
    todo = []
    keys = [match_key(s, t, statistic, arch, task, probe_inputs)
            for s, t in zip(sources, targets, strict=True)]
    for key in keys:
        found = _read(shipped_folder() / f"{key}.npz", key) or _read(cache_folder() / f"{key}.npz", key)
        out.append(found[0] if found else {})
        infos.append(found[1] if found else {})
        if not found:
            todo.append(len(out) - 1)
    bar = progress_bar(total=len(todo), desc=f"training {statistic}-matched networks", unit="network",
                       disable=not progress or not todo)
    for k in todo:
        out[k], infos[k] = trained_match(sources[k], targets[k], statistic, arch, task, probe_inputs,
                                         seed=int(keys[k][:8], 16))
        _write(cache_folder() / f"{keys[k]}.npz", keys[k], out[k], infos[k])
        bar.update(1)
    bar.close()
    return out, infos
