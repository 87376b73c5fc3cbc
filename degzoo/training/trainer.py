"""Batched ensemble training with per-member convergence, divergence handling and resumption.

All E members train as one batched computation, but nothing couples them: the loss is the sum of
each member's own mean MSE (plus its own penalties), each member draws its data from its own seeded
stream, and Adam keeps per-member state and step counts. A member therefore ends with the same
weights whether it is trained alone or inside any ensemble (tested in float64).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.limits import check_budget
from degzoo.models import Architecture, effective, forward_bptt, init_params
from degzoo.progress import progress_bar
from degzoo.threads import with_compute_threads
from degzoo.training.controls import Control, apply_controls

STATUS_RUNNING, STATUS_CONVERGED = "running", "converged"
STATUS_NOT_CONVERGED, STATUS_DIVERGED = "not_converged", "diverged"
CHECKPOINT_VERSION = 1
LR_SCHEDULES = ("constant", "plateau")
_PLATEAU_DEFAULTS = {"lr_factor": 0.5, "lr_patience": 40, "min_lr": 0.0}
#: ReduceLROnPlateau's defaults: relative improvement needed, smallest lr change applied
_PLATEAU_THRESHOLD, _PLATEAU_EPS = 1e-4, 1e-8


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and stopping rule.

    A member converges when the mean training MSE of an epoch (``steps_per_epoch`` steps) first
    falls below the task's threshold; it then trains ``patience_epochs`` more epochs, as the paper
    does, so that all members end at comparable loss, and stops updating. Some members spike in
    those epochs and end far above the threshold (86 of zoo-v2's 1151 on their probe sets); with
    ``end_below_threshold`` a member stops only at the end of an epoch below the threshold, once
    its patience epochs are served, and one that never gets back below by ``max_steps`` is not
    converged.

    Learning-rate schedule, per member on its own epoch MSE: ``"constant"`` (default), or
    ``"plateau"``, torch's ``ReduceLROnPlateau`` rule as the paper uses it for path integration:
    an epoch improves when its loss is below ``best · (1 - 1e-4)``; after ``lr_patience`` epochs
    without improvement the next one multiplies the member's lr by ``lr_factor`` (not below
    ``min_lr``) and restarts the count.
    """

    lr: float = 1e-3
    batch_size: int = 64
    max_steps: int = 5000
    steps_per_epoch: int = 100
    patience_epochs: int = 3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    threshold: float | None = None  # None: the task's own MSE threshold
    grad_clip: float | None = None  # clip each member's gradient to this global norm
    dtype: str = "float32"
    device: str = "cpu"
    checkpoint_every: int = 200
    lr_schedule: str = "constant"  # "constant" | "plateau"
    lr_factor: float = 0.5
    lr_patience: int = 40  # epochs
    min_lr: float = 0.0
    end_below_threshold: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "steps_per_epoch", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"TrainSettings: {name} must be an integer >= 1, got {value!r}"
                )
        if not isinstance(self.patience_epochs, int) or self.patience_epochs < 0:
            raise InvalidParameterError(
                f"TrainSettings: patience_epochs must be an integer >= 0, got {self.patience_epochs!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InvalidParameterError(
                f"TrainSettings: grad_clip must be > 0 or None, got {self.grad_clip!r}"
            )
        numeric = isinstance(self.lr, (int, float, np.floating)) and not isinstance(self.lr, bool)
        if not (numeric and 0 < self.lr <= 1):
            raise InvalidParameterError(
                f"TrainSettings: lr must be a finite number in (0, 1] (Adam's usual range is 1e-4 to "
                f"1e-2), got {self.lr!r}"
            )
        if self.dtype not in ("float32", "float64"):
            raise InvalidParameterError(
                f"TrainSettings: dtype must be float32 or float64, got {self.dtype!r}"
            )
        if not isinstance(self.end_below_threshold, bool):
            raise InvalidParameterError(
                f"TrainSettings: end_below_threshold must be true or false, got {self.end_below_threshold!r}"
            )
        object.__setattr__(self, "betas", tuple(self.betas))
        self._check_schedule()

    def _check_schedule(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise InvalidParameterError(
                f"TrainSettings: lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                f"got {self.lr_schedule!r}"
            )
        if self.lr_schedule == "constant":
            changed = [k for k, v in _PLATEAU_DEFAULTS.items() if getattr(self, k) != v]
            if changed:
                raise InvalidParameterError(
                    f"TrainSettings: {', '.join(changed)} only apply to lr_schedule='plateau'; set "
                    "lr_schedule='plateau' or leave them out"
                )
            return
        if not (isinstance(self.lr_factor, (int, float)) and 0 < self.lr_factor < 1):
            raise InvalidParameterError(
                f"TrainSettings: lr_factor must be a number in (0, 1) (0.5 halves the lr), "
                f"got {self.lr_factor!r}"
            )
        patience = self.lr_patience
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise InvalidParameterError(
                f"TrainSettings: lr_patience must be an integer >= 0 (epochs), got {self.lr_patience!r}"
            )
        if not (isinstance(self.min_lr, (int, float)) and 0 <= self.min_lr <= self.lr):
            raise InvalidParameterError(
                f"TrainSettings: min_lr must be a number in [0, lr={self.lr}], got {self.min_lr!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Every setting that determines the trained weights (the schedule's only when it is not
        constant, the stopping rule only when it is not the paper's, so that earlier provenance and
        fingerprints stay as they were)."""
        skip = {"device", "checkpoint_every"}
        if not self.end_below_threshold:
            skip.add("end_below_threshold")
        if self.lr_schedule == "constant":
            skip |= {"lr_schedule", *_PLATEAU_DEFAULTS}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        return cls(**data)


@dataclass
class TrainResult:
    """Everything a zoo file records about one trained ensemble (weights are effective)."""

    task: Any
    architecture: Architecture
    controls: tuple[Control, ...]
    settings: TrainSettings
    seeds: np.ndarray
    initial_params: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    steps: np.ndarray
    reached_step: np.ndarray
    final_loss: np.ndarray
    status: np.ndarray
    loss_curve: np.ndarray = field(repr=False)
    lr: np.ndarray | None = None  # each member's lr at the end (differs from settings.lr under "plateau")
    train_seconds: float = 0.0  # wall seconds in training steps, summed over the runs a checkpoint resumed

    @property
    def converged(self) -> np.ndarray:
        return self.status == STATUS_CONVERGED

    def summary(self) -> str:
        counts = {s: int((self.status == s).sum()) for s in np.unique(self.status)}
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        finite = self.final_loss[np.isfinite(self.final_loss)]
        loss = f"{np.median(finite):.3g}" if finite.size else "n/a (no full epoch)"
        return (
            f"{len(self.seeds)} members ({parts}); final training loss median {loss} "
            f"(threshold {self.threshold:.3g}); steps median {int(np.median(self.steps))}"
        )

    @property
    def threshold(self) -> float:
        return self.settings.threshold if self.settings.threshold is not None else self.task.mse_threshold


class _Adam:
    """Adam with per-member step counts that updates only the members it is told to."""

    def __init__(self, params: dict[str, torch.Tensor], settings: TrainSettings) -> None:
        (self.b1, self.b2), self.eps = settings.betas, settings.eps
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        first = next(iter(params.values()))
        self.t = torch.zeros(first.shape[0], dtype=torch.float64, device=first.device)

    @torch.no_grad()
    def step(self, params: dict[str, torch.Tensor], idx: torch.Tensor, lr: torch.Tensor) -> None:
        """Update members ``idx`` with their learning rates ``lr`` (one per member in ``idx``)."""
        self.t[idx] += 1
        t = self.t[idx]
        for k, p in params.items():
            g = p.grad[idx]
            shape = (-1,) + (1,) * (g.dim() - 1)
            m = self.m[k][idx].mul_(self.b1).add_(g, alpha=1 - self.b1)
            v = self.v[k][idx].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            self.m[k][idx], self.v[k][idx] = m, v
            bc1 = (1 - self.b1**t).to(p.dtype).reshape(shape)
            bc2 = (1 - self.b2**t).to(p.dtype).reshape(shape)
            p[idx] = p[idx] - lr.to(p.dtype).reshape(shape) * (m / bc1) / ((v / bc2).sqrt() + self.eps)

    def state(self) -> dict[str, np.ndarray]:
        out = {f"adam_m/{k}": v.cpu().numpy() for k, v in self.m.items()}
        out.update({f"adam_v/{k}": v.cpu().numpy() for k, v in self.v.items()})
        out["adam_t"] = self.t.cpu().numpy()
        return out

    def load(self, arrays: dict[str, np.ndarray], device: str) -> None:
        for k in self.m:
            self.m[k] = torch.as_tensor(arrays[f"adam_m/{k}"], device=device)
            self.v[k] = torch.as_tensor(arrays[f"adam_v/{k}"], device=device)
        self.t = torch.as_tensor(arrays["adam_t"], device=device)


def data_rng(seed: int) -> np.random.Generator:
    """The data stream of the member with this seed (independent of its initialisation stream)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0xDA7A]))


def training_memory(task: Any, architecture: Architecture, n_members: int, settings: TrainSettings) -> float:
    """About how many bytes training ``n_members`` networks takes at its peak (an upper estimate).

    Parameters with their gradients, Adam moments and copies (8 per weight); a step's batch of
    trials as the task draws it (float64 temporaries) and as tensors; the rates, pre-activations and
    gradients that backpropagation through time keeps for every step (4 per unit); the loss curves.
    """
    H, n_in, n_out = architecture.hidden, architecture.n_inputs, architecture.n_outputs
    itemsize = 8 if settings.dtype == "float64" else 4
    E, B, T = float(n_members), float(settings.batch_size), float(task.trial_length)
    weights = E * (H * H + H * n_in + H + n_out * H + n_out) * itemsize * 8
    trials = E * B * T * (n_in + n_out) * (8 * 4 + itemsize * 2)
    unrolled = E * B * T * H * itemsize * 4
    epochs = -(-settings.max_steps // settings.steps_per_epoch)
    return weights + trials + unrolled + E * float(epochs) * 8 * 3


def check_training_memory(task: Any, architecture: Architecture, n_members: int, settings: TrainSettings,
                          where: str = "training") -> None:
    """Refuse, before anything is allocated, a run whose :func:`training_memory` exceeds the budget."""
    check_budget(
        f"{where} {n_members} × {architecture.hidden}-unit networks on {task} ({settings.max_steps} steps, "
        f"batch {settings.batch_size})",
        training_memory(task, architecture, n_members, settings),
        "the members, hidden units, batch size, steps or the task's sizes",
    )


@with_compute_threads
def train_ensemble(
    task: Any,
    architecture: Architecture,
    seeds: Sequence[int],
    settings: TrainSettings | None = None,
    controls: Sequence[Control] = (),
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    callback: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train one member per seed on ``task``; resume from ``checkpoint`` if it exists.

    ``architecture`` gives the base shape (its n_inputs/n_outputs must match the task after the
    controls configure it). On Ctrl-C the current step is finished (the interrupt is taken at step
    boundaries, see :class:`_StepBoundaryInterrupt`), its state is written to ``checkpoint`` (when
    given) and the interrupt propagates; calling again with the same arguments resumes and yields
    exactly the result an uninterrupted run would have.
    ``callback(step)`` runs after every step (tests use it to interrupt).
    Runs with one torch and one BLAS thread, as ``degzoo train`` does (:mod:`degzoo.threads`);
    the caller's thread settings come back on return.
    """
    settings = settings or TrainSettings()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InvalidParameterError("train_ensemble: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise InvalidParameterError("train_ensemble: seeds must be distinct, or members would be identical")
    controls = tuple(controls)
    task, arch, penalties = apply_controls(controls, task, architecture)
    if (arch.n_inputs, arch.n_outputs) != (task.n_inputs, task.n_outputs):
        raise InvalidParameterError(
            f"train_ensemble: architecture has {arch.n_inputs} inputs/{arch.n_outputs} outputs but task "
            f"{task.name!r} has {task.n_inputs}/{task.n_outputs}"
        )
    check_training_memory(task, arch, len(seeds), settings)
    threshold = settings.threshold if settings.threshold is not None else task.mse_threshold
    dtype = getattr(torch, settings.dtype)
    device = settings.device
    E = len(seeds)

    raw = init_params(arch, seeds, dtype=dtype, device=device)
    with torch.no_grad():
        for control in controls:
            control.initialize(raw, arch)
    # copies: for vanilla networks effective() returns the very tensors Adam updates in place
    initial = {k: v.detach().cpu().numpy().copy() for k, v in effective(raw, arch).items()}
    for p in raw.values():
        p.requires_grad_(True)
    adam = _Adam(raw, settings)
    rngs = [data_rng(s) for s in seeds]
    workspace: dict[str, torch.Tensor] = {}  # forward_bptt's buffers, reused from step to step
    n_epochs = -(-settings.max_steps // settings.steps_per_epoch)
    state = {
        "step": 0,
        "steps": np.zeros(E, np.int64),
        "reached_epoch": np.full(E, -1, np.int64),
        "reached_step": np.full(E, -1, np.int64),
        "final_loss": np.full(E, np.nan),
        "epoch_sum": np.zeros(E),
        "status": np.array([STATUS_RUNNING] * E, dtype=object),
        "loss_curve": np.full((E, n_epochs), np.nan),
        "lr": np.full(E, float(settings.lr)),  # each member's current lr (before arch.lr_scale)
        "plateau_best": np.full(E, np.inf),
        "plateau_bad": np.zeros(E, np.int64),
        "seconds": 0.0,  # wall time of the training loop so far, carried across resumed runs
    }
    fingerprint = _fingerprint(task, arch, controls, settings, seeds)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        _load_checkpoint(ckpt, fingerprint, raw, adam, rngs, state, device)

    bar = progress_bar(total=settings.max_steps, initial=state["step"], disable=not progress,
                       desc=f"train {task.name}", unit="step")
    guard = _StepBoundaryInterrupt()
    seconds_before, started = state["seconds"], time.perf_counter()

    def save() -> None:
        state["seconds"] = seconds_before + time.perf_counter() - started
        _save_checkpoint(ckpt, fingerprint, raw, adam, rngs, state)

    try:
        with guard:
            while state["step"] < settings.max_steps:
                running = np.flatnonzero(state["status"] == STATUS_RUNNING)
                if running.size == 0:
                    break
                guard.in_step = True
                _train_step(task, arch, raw, adam, rngs, controls, penalties, running, settings, state,
                            dtype, workspace)
                state["step"] += 1
                if state["step"] % settings.steps_per_epoch == 0:
                    _end_epoch(state, settings, threshold)
                guard.in_step = False
                guard.deliver()
                bar.update(1)
                if progress and state["step"] % 10 == 0:
                    bar.set_postfix(converged=int((state["status"] == STATUS_CONVERGED).sum()),
                                    running=int((state["status"] == STATUS_RUNNING).sum()), refresh=False)
                if ckpt is not None and state["step"] % settings.checkpoint_every == 0:
                    save()
                if callback is not None:
                    callback(state["step"])
    except KeyboardInterrupt:
        # mid-step (a second Ctrl-C) the state is half-updated: keep the last periodic checkpoint
        if ckpt is not None and not guard.in_step:
            save()
        raise
    finally:
        bar.close()
    state["seconds"] = seconds_before + time.perf_counter() - started
    status = state["status"]
    status[status == STATUS_RUNNING] = STATUS_NOT_CONVERGED
    with torch.no_grad():
        final = {k: v.detach().cpu().numpy() for k, v in effective(raw, arch).items()}
    return TrainResult(
        task=task, architecture=arch, controls=controls, settings=settings,
        seeds=np.asarray(seeds, np.int64), initial_params=initial, params=final,
        steps=state["steps"].copy(), reached_step=state["reached_step"].copy(),
        final_loss=state["final_loss"].copy(), status=status.astype(str),
        loss_curve=state["loss_curve"].copy(), lr=state["lr"].copy(), train_seconds=state["seconds"],
    )


class _StepBoundaryInterrupt:
    """Hold a Ctrl-C that arrives during a training step until the step is complete.

    An interrupt inside a step (after some members' batches were drawn) would checkpoint data
    streams that are ahead of the weights, and the resumed run would differ. While active, and
    only in the main thread with a Python-level SIGINT handler in place, a SIGINT during a step
    sets a flag; :meth:`deliver`, called between steps, then runs the previous handler
    (``KeyboardInterrupt`` by default). A second SIGINT in the same step runs it at once, so a
    step that hangs can still be stopped (that interrupt writes no checkpoint). The previous
    handler is restored on exit.
    """

    def __init__(self) -> None:
        self.in_step = False
        self.pending = False
        self._previous: Callable[[int, FrameType | None], Any] | None = None

    def __enter__(self) -> _StepBoundaryInterrupt:
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread() and callable(previous):
            self._previous = previous
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.in_step and not self.pending:
            self.pending = True
        elif self._previous is not None:
            self._previous(signum, frame)

    def deliver(self) -> None:
        """At a step boundary: act on a SIGINT held during the step."""
        if self.pending and self._previous is not None:
            self.pending = False
            self._previous(signal.SIGINT, None)


def _train_step(task, arch, raw, adam, rngs, controls, penalties, running, settings, state, dtype,
                workspace) -> None:
    """One Adam step for the running members; a member whose loss is not finite is stopped."""
    x, y = (torch.as_tensor(a).to(settings.device, dtype)
            for a in _draw_batches(task, rngs, running, settings.batch_size))
    idx = torch.as_tensor(running, device=settings.device)
    everyone = running.size == len(rngs)
    sub = raw if everyone else {k: v[idx] for k, v in raw.items()}
    eff = effective(sub, arch)
    out, _ = forward_bptt(eff, x, arch, workspace=workspace)
    mse = (out - y).square().mean((1, 2, 3))
    total = mse
    for penalty in penalties:
        extra = penalty(eff)
        if extra is not None:
            total = total + extra
    for p in raw.values():
        p.grad = None
    finite = torch.isfinite(total).detach()
    torch.where(finite, total, torch.zeros_like(total)).sum().backward()
    mse_np = mse.detach().cpu().numpy().astype(np.float64)
    finite_np = finite.cpu().numpy()
    diverged = running[~finite_np]
    state["status"][diverged] = STATUS_DIVERGED
    ok = running[finite_np]
    if settings.grad_clip is not None:
        _clip_per_member(raw, settings.grad_clip)
    if ok.size:
        lr = torch.as_tensor(state["lr"][ok] * arch.lr_scale, device=settings.device)
        updated = torch.as_tensor(ok, device=settings.device)
        adam.step(raw, updated, lr)
        with torch.no_grad():
            for control in controls:
                control.project(raw, updated)
    state["steps"][ok] += 1
    state["epoch_sum"][ok] += mse_np[finite_np]


def _draw_batches(task: Any, rngs: Sequence[np.random.Generator], members: np.ndarray,
                  batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each member's batch from its own stream: inputs and targets ``[E, B, T, ·]``.

    Both are views of ``[T, E, ·, B]`` arrays, the layout in which :func:`forward_bptt` reads
    one contiguous block per step.
    """
    T, E = task.trial_length, len(members)
    x = np.empty((T, E, task.n_inputs, batch_size), np.float32)
    y = np.empty((T, E, task.n_outputs, batch_size), np.float32)
    for i, member in enumerate(members):
        x_i, y_i = task.sample(batch_size, rngs[member])
        x[:, i], y[:, i] = x_i.transpose(1, 2, 0), y_i.transpose(1, 2, 0)
    return x.transpose(1, 3, 0, 2), y.transpose(1, 3, 0, 2)


@torch.no_grad()
def _clip_per_member(raw: dict[str, torch.Tensor], max_norm: float) -> None:
    """Scale each member's gradient (all its parameters together) to norm <= ``max_norm``."""
    sq = sum(p.grad.flatten(1).pow(2).sum(1) for p in raw.values())
    scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
    for p in raw.values():
        p.grad.mul_(scale.reshape(-1, *([1] * (p.grad.dim() - 1))))


def _end_epoch(state: dict[str, Any], settings: TrainSettings, threshold: float) -> None:
    epoch = state["step"] // settings.steps_per_epoch - 1
    running = np.flatnonzero(state["status"] == STATUS_RUNNING)
    mean = state["epoch_sum"][running] / settings.steps_per_epoch
    state["loss_curve"][running, epoch] = mean
    state["final_loss"][running] = mean
    state["epoch_sum"][:] = 0.0
    newly = running[(mean < threshold) & (state["reached_epoch"][running] < 0)]
    state["reached_epoch"][newly] = epoch
    state["reached_step"][newly] = state["steps"][newly]
    served = (state["reached_epoch"][running] >= 0) & (epoch - state["reached_epoch"][running]
                                                        >= settings.patience_epochs)
    done = running[served & (mean < threshold)] if settings.end_below_threshold else running[served]
    state["status"][done] = STATUS_CONVERGED
    if settings.lr_schedule == "plateau":
        _plateau(state, settings, running, mean)


def _plateau(state: dict[str, Any], settings: TrainSettings, members: np.ndarray, loss: np.ndarray) -> None:
    """ReduceLROnPlateau (mode min, relative threshold 1e-4, no cooldown) for each member on its loss."""
    better = loss < state["plateau_best"][members] * (1 - _PLATEAU_THRESHOLD)
    state["plateau_best"][members[better]] = loss[better]
    state["plateau_bad"][members[better]] = 0
    state["plateau_bad"][members[~better]] += 1
    cut = members[state["plateau_bad"][members] > settings.lr_patience]
    old = state["lr"][cut]
    new = np.maximum(old * settings.lr_factor, settings.min_lr)
    state["lr"][cut] = np.where(old - new > _PLATEAU_EPS, new, old)
    state["plateau_bad"][cut] = 0


def _fingerprint(task, arch, controls, settings, seeds) -> str:
    blob = json.dumps(
        {"task": task.to_dict(), "arch": arch.to_dict(), "controls": [c.to_dict() for c in controls],
         "settings": settings.to_dict(), "seeds": seeds},
        sort_keys=True, default=list,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


_STATE_ARRAYS = ("steps", "reached_epoch", "reached_step", "final_loss", "epoch_sum", "loss_curve",
                 "lr", "plateau_best", "plateau_bad")


def _save_checkpoint(path: Path, fingerprint: str, raw, adam, rngs, state) -> None:
    """Write the full training state atomically (temp file, then rename): no pickle inside."""
    arrays = {f"param/{k}": v.detach().cpu().numpy() for k, v in raw.items()}
    arrays.update(adam.state())
    for key in _STATE_ARRAYS:
        arrays[f"state/{key}"] = state[key]
    arrays["state/status"] = state["status"].astype(str)
    meta = {"version": CHECKPOINT_VERSION, "fingerprint": fingerprint, "step": state["step"],
            "seconds": state["seconds"], "rngs": [r.bit_generator.state for r in rngs]}
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_checkpoint(path: Path, fingerprint: str, raw, adam, rngs, state, device: str) -> None:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays["meta"]))
    except Exception as exc:
        raise InvalidParameterError(
            f"checkpoint {path} is unreadable ({exc}); delete it to start training afresh"
        ) from None
    if meta.get("fingerprint") != fingerprint:
        raise InvalidParameterError(
            f"checkpoint {path} belongs to a different training run (task, architecture, controls, "
            "settings or seeds differ); delete it or pass another checkpoint path"
        )
    with torch.no_grad():
        for k, p in raw.items():
            p.copy_(torch.as_tensor(arrays[f"param/{k}"], device=device))
    adam.load(arrays, device)
    for rng, rng_state in zip(rngs, meta["rngs"], strict=True):
        rng.bit_generator.state = rng_state
    for key in _STATE_ARRAYS:
        # checkpoints written before the lr schedule existed are constant-lr runs: keep the fresh values
        state[key] = arrays.get(f"state/{key}", state[key]).copy()
    state["status"] = arrays["state/status"].astype(object)
    state["step"] = int(meta["step"])
    state["seconds"] = float(meta.get("seconds", 0.0))  # checkpoints before it was recorded: unknown, 0
