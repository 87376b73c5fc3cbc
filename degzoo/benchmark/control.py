"""The control track: does a training intervention change degeneracy, at matched task performance?

A *control method* is a :class:`degzoo.training.Control` (a regulariser, a parameterisation, an
auxiliary objective): a registered name (``l1``, ``nuclear``, ``width``, ``mup``, ``aux``), a
``module:attr`` naming a Control subclass, instance or factory, or a Control object.

For every condition of a budget the harness trains two ensembles from the same pinned member seeds
(:func:`degzoo.zoo.recipes.condition_seeds`): the *baseline* (the budget's baseline controls only)
and the *method* (baseline controls + the method). It then

- checks matched task performance: every member should reach the task's MSE threshold; the share
  converged (and diverged) is reported for both arms, with a flag when they differ — failures are
  counted, never silently dropped;
- measures degeneracy at three levels on the members that converged in *both* arms (the paper
  evaluates converged networks only): behaviour (σ_OOD, ``behaviour_ood``), dynamics (mean pairwise
  ``dsa``) and weights (mean pairwise ``weights_perm``);
- reports the change, method − baseline, with a paired bootstrap CI: members are resampled with
  replacement, the *same* members in both arms (they share seeds, hence data streams), and both
  statistics are recomputed on every replicate; the ratio method / baseline is reported likewise.

A control that makes training diverge (NaN loss or penalty) or raises is recorded in the result
(diverged members counted, an error message for the condition) and the run continues.

Budgets (:data:`BUDGETS`, a plain dict so that callers and tests can add their own): ``small``
(2 conditions, 8 members, 32 units: minutes on 2 CPU cores) and ``full`` (the paper's scale: 128
units, 50 members, 4 conditions; for a GPU or a Dask cluster).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from degzoo._version import __version__
from degzoo.benchmark.stats import score_dict
from degzoo.engine import run_jobs
from degzoo.environment import environment
from degzoo.errors import InvalidParameterError, UnknownNameError, ValidationError
from degzoo.files import write_atomically
from degzoo.plugins import import_object
from degzoo.progress import heartbeat
from degzoo.training import Control, available_controls, control_from_dict, get_control

__all__ = [
    "BUDGETS",
    "LEVELS",
    "REFERENCE_CONTROLS",
    "Budget",
    "TrackCondition",
    "control_identity",
    "format_table",
    "load_reference_results",
    "resolve_control",
    "run_control_track",
    "run_reference_controls",
    "statistic_replicates",
    "track_info",
]

#: The three levels of degeneracy the track measures, in display order.
LEVELS = ("behaviour", "dynamics", "weights")
ARMS = ("baseline", "method")
SCHEMA_VERSION = 2  # the result format of degzoo.benchmark.results (control files migrated from 1)
TRACK_SEED = 20251202
CACHE_DIR = ".cache"
WORK_DIR = ".work"
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference" / "control"


# ------------------------------------------------------------------------------------------------
# budgets
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackCondition:
    """One condition of the track: a task, a width, training settings and the member seeds."""

    id: str
    task: Mapping[str, Any]
    hidden: int
    members: int
    training: Mapping[str, Any]
    seeds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.members, int) or self.members < 2:
            raise InvalidParameterError(f"track condition {self.id!r}: members must be >= 2")
        if not self.seeds:
            object.__setattr__(self, "seeds", _seeds(self.id, self.members))
        if len(self.seeds) != self.members:
            raise InvalidParameterError(f"track condition {self.id!r}: need one seed per member")
        object.__setattr__(self, "task", dict(self.task))
        object.__setattr__(self, "training", dict(self.training))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": dict(self.task), "hidden": self.hidden, "members": self.members,
                "training": dict(self.training), "seeds": list(self.seeds)}


def _seeds(condition_id: str, members: int) -> tuple[int, ...]:
    from degzoo.zoo.recipes import condition_seeds

    return condition_seeds(TRACK_SEED, condition_id, members)


@dataclass(frozen=True)
class Budget:
    """What the track trains and measures: conditions, metric settings, probe set, bootstrap."""

    name: str
    conditions: tuple[TrackCondition, ...]
    #: level -> (registered metric name, parameters)
    metrics: Mapping[str, tuple[str, Mapping[str, Any]]]
    probe_trials: int = 64
    n_boot: int = 1000
    confidence: float = 0.95
    #: controls applied to both arms (the method is appended to them in the method arm)
    baseline: tuple[Mapping[str, Any], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.conditions:
            raise InvalidParameterError(f"budget {self.name!r} has no conditions")
        missing = [lvl for lvl in LEVELS if lvl not in self.metrics]
        if missing:
            raise InvalidParameterError(f"budget {self.name!r}: no metric for level(s) {missing}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "conditions": [c.to_dict() for c in self.conditions],
            "metrics": {lvl: {"name": n, "params": dict(p)} for lvl, (n, p) in self.metrics.items()},
            "probe_trials": self.probe_trials,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "baseline": [dict(c) for c in self.baseline],
        }

    @property
    def sha256(self) -> str:
        """Identity of the track's data: everything that decides what is trained and measured."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()


# Settings of the small budget are those of the embedded recipe (degzoo/recipes/embedded.toml),
# copied here on purpose: the track is a fixed benchmark and must not move when that recipe does.
_SMALL_TRAINING = {"batch_size": 32, "steps_per_epoch": 100, "patience_epochs": 3, "grad_clip": 1.0}
_FULL_TRAINING = {"lr": 1e-3, "batch_size": 64, "max_steps": 128000, "steps_per_epoch": 128,
                  "patience_epochs": 3}

BUDGETS: dict[str, Budget] = {
    "small": Budget(
        name="small",
        description="2 conditions (3-bit flip-flop T=60; 1-channel delayed discrimination, 5 levels), "
        "8 members, 32 units; under 20 minutes on 2 CPU cores",
        conditions=(
            TrackCondition("flipflop-bits3", {"name": "flipflop", "bits": 3, "trial_length": 60}, 32, 8,
                           {**_SMALL_TRAINING, "lr": 1e-2, "max_steps": 3000}),
            TrackCondition("dd-ch1", {"name": "delayed_discrimination", "channels": 1, "n_levels": 5}, 32, 8,
                           {**_SMALL_TRAINING, "lr": 2e-3, "max_steps": 12000}),
        ),
        metrics={
            "behaviour": ("behaviour_ood", {}),
            "dynamics": ("dsa", {}),
            "weights": ("weights_perm", {}),
        },
    ),
    "full": Budget(
        name="full",
        description="the paper's scale: 4 conditions (3-bit flip-flop, delayed discrimination, sine, "
        "2D path integration), 50 members, 128 units; for a GPU (--device cuda) or a Dask cluster",
        conditions=(
            TrackCondition("flipflop-bits3", {"name": "flipflop", "bits": 3}, 128, 50, _FULL_TRAINING),
            TrackCondition("dd-ch1", {"name": "delayed_discrimination", "channels": 1}, 128, 50,
                           _FULL_TRAINING),
            TrackCondition("sine-ch1", {"name": "sine", "channels": 1}, 128, 50, _FULL_TRAINING),
            TrackCondition("path-2d", {"name": "path_integration", "dims": 2}, 128, 50, _FULL_TRAINING),
        ),
        metrics={
            "behaviour": ("behaviour_ood", {}),
            "dynamics": ("dsa", {}),
            "weights": ("weights_perm", {}),
        },
    ),
}

#: The reference controls the track reports next to a method (the paper's interventions), as
#: (method spec, parameters, extra baseline controls, training overrides). ``gamma`` compares
#: µP at γ=2 with µP at γ=1 (the µP settings of the embedded recipe).
REFERENCE_CONTROLS: dict[str, dict[str, Any]] = {
    "l1": {"method": "l1", "params": {"weight": 1e-5}},
    "nuclear": {"method": "nuclear", "params": {"weight": 1e-4}},
    "width": {"method": "width", "params": {"hidden": 64}},
    "gamma": {"method": "mup", "params": {"gamma": 2.0, "tau": 0.5},
              "baseline": [{"name": "mup", "gamma": 1.0, "tau": 0.5}], "training": {"lr": 3e-2}},
}


def run_reference_controls(budget: str | Budget = "small", *, out_dir: str | os.PathLike[str],
                           names: Sequence[str] | None = None, **kwargs: Any) -> dict[str, dict[str, Any]]:
    """Run the reference controls (:data:`REFERENCE_CONTROLS`) on ``budget``; results by label.

    Their result files (``control-<label>-<budget>.json`` in ``out_dir``) are what
    :func:`load_reference_results` reads; ship them in ``degzoo/reference/control/``.
    """
    out = {}
    for label in names or list(REFERENCE_CONTROLS):
        if label not in REFERENCE_CONTROLS:
            raise UnknownNameError(
                f"unknown reference control {label!r}; have {', '.join(REFERENCE_CONTROLS)}"
            )
        ref = REFERENCE_CONTROLS[label]
        out[label] = run_control_track(ref["method"], params=ref.get("params"), budget=budget,
                                       out_dir=out_dir, baseline=ref.get("baseline"),
                                       training=ref.get("training"), label=label, **kwargs)
    return out


def get_budget(budget: str | Budget) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise UnknownNameError(f"unknown budget {budget!r}; available: {', '.join(BUDGETS)}")
    return BUDGETS[budget]


# ------------------------------------------------------------------------------------------------
# the control method
# ------------------------------------------------------------------------------------------------


def resolve_control(method: str | Control | type[Control] | Callable[..., Control],
                    params: Mapping[str, Any] | None = None) -> Control:
    """A Control from a registered name, a ``module:attr`` string, a class, a factory or an instance."""
    params = dict(params or {})
    obj: Any = method
    if isinstance(method, str):
        if ":" in method:
            obj = import_object(method, "control")
        else:
            if method not in available_controls():
                raise UnknownNameError(
                    f"unknown control {method!r}; registered controls: {', '.join(available_controls())}; "
                    "or give a 'module:attr' naming a degzoo.training.Control subclass or instance"
                )
            return get_control(method, **params)
    if isinstance(obj, Control):
        if params:
            raise InvalidParameterError(
                f"control {method!r} is an instance; parameters cannot be applied to it"
            )
        return obj
    if inspect.isclass(obj) and issubclass(obj, Control):
        try:
            return obj(**params)
        except TypeError as exc:
            raise InvalidParameterError(f"control {method!r}: {exc}") from None
    if callable(obj):
        made = obj(**params)
        if isinstance(made, Control):
            return made
        raise InvalidParameterError(
            f"control {method!r}: the factory returned {type(made).__name__}, not a degzoo.training.Control"
        )
    raise InvalidParameterError(
        f"control {method!r} is a {type(obj).__name__}, not a degzoo.training.Control subclass or instance"
    )


def control_identity(control: Control, spec: str | None = None) -> dict[str, Any]:
    """Name, parameters and class of a control: what a result file records."""
    try:
        data = control.to_dict()
    except TypeError:  # a Control that is not a dataclass
        data = {"name": getattr(control, "name", type(control).__name__)}
    name = str(data.pop("name", None) or getattr(control, "name", None) or type(control).__name__)
    cls = type(control)
    return {
        "name": name,
        "spec": spec or name,
        "params": _jsonable(data),
        "class": f"{cls.__module__}:{cls.__qualname__}",
    }


# ------------------------------------------------------------------------------------------------
# one arm of one condition (runs in a worker process or on a Dask worker)
# ------------------------------------------------------------------------------------------------


def run_arm(job: dict[str, Any]) -> dict[str, Any]:
    """Train one ensemble and measure its converged members; plain data in and out.

    Never raises for a failure of the control or the metric: the error is returned in the record.
    """
    import torch

    from degzoo.metrics import get as get_metric
    from degzoo.models import Architecture
    from degzoo.tasks import task_from_dict
    from degzoo.training import TrainSettings, train_ensemble
    from degzoo.zoo import Ensemble

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cond = job["condition"]
    out: dict[str, Any] = {"condition": cond["id"], "arm": job["arm"], "key": job["key"]}
    start = time.perf_counter()
    try:
        task = task_from_dict(dict(cond["task"]))
        arch = Architecture(task.n_inputs, task.n_outputs, hidden=cond["hidden"])
        settings = TrainSettings(**{**cond["training"], "device": job["device"]})
        ckpt = job.get("checkpoint")
        try:
            result = train_ensemble(task, arch, cond["seeds"], settings, job["controls"],
                                    checkpoint=ckpt, progress=False)
        except Exception as exc:
            out["error"] = f"training failed: {exc.__class__.__name__}: {exc}"
            out["train_seconds"] = round(time.perf_counter() - start, 2)
            return out
        if ckpt:
            Path(ckpt).unlink(missing_ok=True)
        out["train_seconds"] = round(time.perf_counter() - start, 2)
        status = [str(s) for s in result.status]
        out.update(
            status=status,
            final_loss=[_num(v) for v in result.final_loss],
            steps=[int(s) for s in result.steps],
            threshold=float(result.threshold),
            hidden=int(result.architecture.hidden),
        )
        conv = [i for i, s in enumerate(status) if s == "converged"]
        out["measured"] = conv
        out["metrics"] = {}
        mstart = time.perf_counter()
        if len(conv) >= 2:
            ens = Ensemble.from_result(result, result.task.probe(n=job["probe_trials"])).subset(conv)
            for level, (name, params) in job["metrics"].items():
                try:
                    metric = get_metric(name, **_with_device(name, params, job["device"]))
                    t0 = time.perf_counter()
                    if hasattr(metric, "member_scores"):
                        values = np.asarray(metric.member_scores(ens), dtype=np.float64)
                        rec: dict[str, Any] = {"scores": values.tolist()}
                    else:
                        rec = {"pairwise": np.asarray(metric.pairwise(ens), dtype=np.float64).tolist()}
                    rec["identity"] = _jsonable(metric.identity)
                    rec["seconds"] = round(time.perf_counter() - t0, 2)
                except Exception as exc:
                    rec = {"error": f"{name} failed: {exc.__class__.__name__}: {exc}"}
                out["metrics"][level] = rec
        out["metric_seconds"] = round(time.perf_counter() - mstart, 2)
    finally:
        torch.set_num_threads(threads)
    return out


def _with_device(name: str, params: Mapping[str, Any], device: str) -> dict[str, Any]:
    params = dict(params)
    if device != "cpu" and name.startswith("dsa"):
        params.setdefault("device", device)
    return params


# ------------------------------------------------------------------------------------------------
# engines
# ------------------------------------------------------------------------------------------------


def _execute(jobs: list[dict[str, Any]], workers: int | None, scheduler: str | None,
             cluster: str | None) -> Iterator[dict[str, Any]]:
    yield from run_jobs(run_arm, [(job,) for job in jobs], workers=workers, scheduler=scheduler,
                        cluster=cluster)


# ------------------------------------------------------------------------------------------------
# the track
# ------------------------------------------------------------------------------------------------


def run_control_track(
    method: str | Control | type[Control] | Callable[..., Control],
    *,
    params: Mapping[str, Any] | None = None,
    budget: str | Budget = "small",
    out_dir: str | os.PathLike[str] | None = "control-results",
    workers: int | None = None,
    progress: bool | Callable[[str], None] = True,
    baseline: Sequence[Mapping[str, Any]] | None = None,
    training: Mapping[str, Any] | None = None,
    device: str = "cpu",
    scheduler: str | None = None,
    cluster: str | None = None,
    cache: bool = True,
    label: str | None = None,
) -> dict[str, Any]:
    """Train baseline and method ensembles on every condition of ``budget``; return the result.

    ``method``: a registered control name, ``module:attr``, a Control class/factory/instance, with
    ``params``. ``baseline``: controls (as dicts) applied to both arms, in addition to the budget's.
    ``training``: overrides of the training settings of every condition (e.g. ``{"lr": 3e-2}``).
    ``out_dir``: where the result JSON (``control-<label>-<budget>.json``), training checkpoints
    and the cache of finished arms go (None: nothing is written). Engines: ``workers`` local
    processes, or a Dask ``scheduler`` address / ``cluster="local:N"``. ``progress``: a bool (a
    line per finished arm on stderr) or a callable receiving those lines.
    """
    spec = method if isinstance(method, str) else None
    control = resolve_control(method, params)
    bud = get_budget(budget)
    track_sha = bud.sha256  # the track's identity: the budget as defined, before any override
    overrides = {"baseline": [dict(c) for c in baseline or ()], "training": dict(training or {})}
    if baseline:
        bud = dataclasses.replace(bud, baseline=tuple(bud.baseline) + tuple(dict(c) for c in baseline))
    if training:
        bad = set(training) - {f.name for f in dataclasses.fields(_train_settings_cls())}
        if bad:
            raise InvalidParameterError(f"training overrides: unknown setting(s) {sorted(bad)}")
        bud = dataclasses.replace(bud, conditions=tuple(
            dataclasses.replace(c, training={**c.training, **training}) for c in bud.conditions))
    base_controls = [control_from_dict(dict(c)) for c in bud.baseline]
    full_identity = control_identity(control, spec)
    label = _slug(label or (full_identity["spec"] if ":" not in full_identity["spec"]
                            else full_identity["name"]))
    identity = {"name": full_identity["name"], "params": full_identity["params"]}
    track_info = {
        "label": label, "spec": full_identity["spec"], "class": full_identity["class"],
        "budget": bud.name, "baseline": [control_identity(c) for c in base_controls],
        "overrides": overrides,
    }
    say = _reporter(progress)

    out = Path(out_dir) if out_dir is not None else None
    jobs, done = [], {}
    for cond in bud.conditions:
        for arm in ARMS:
            controls = base_controls + ([control] if arm == "method" else [])
            job = {
                "condition": cond.to_dict(), "arm": arm, "controls": controls,
                "metrics": {lvl: (n, dict(p)) for lvl, (n, p) in bud.metrics.items()},
                "probe_trials": bud.probe_trials, "device": device,
            }
            job["key"] = _job_key(job)
            cached = _cache_read(out, job) if (cache and arm == "baseline") else None
            if cached is not None:
                done[(cond.id, arm)] = cached
                say(f"{cond.id}/{arm}: reused from the cache ({_arm_line(cached)})")
                continue
            if out is not None:
                job["checkpoint"] = str(out / WORK_DIR / f"{job['key']}.ckpt")
            jobs.append(job)

    # longest first, so that the short ones fill in behind them
    jobs.sort(key=lambda j: -int(j["condition"]["training"].get("max_steps", 0)) * j["condition"]["hidden"])
    say(f"control track {bud.name!r}: {identity['name']} {_fmt_params(identity['params'])} — "
        f"{len(bud.conditions)} condition(s), {len(jobs)} ensemble(s) to train")
    start = time.perf_counter()
    with heartbeat(f"training and measuring {len(jobs)} ensemble(s)", say):
        for rec in _execute(jobs, workers, scheduler, cluster):
            done[(rec["condition"], rec["arm"])] = rec
            say(f"{rec['condition']}/{rec['arm']}: {_arm_line(rec)}")
            if cache and rec["arm"] == "baseline" and "error" not in rec:
                _cache_write(out, rec)
    wall = time.perf_counter() - start

    suites, ratio_reps = {}, {}
    for i, cond in enumerate(bud.conditions):
        suite, reps = _condition_suite(cond, done[(cond.id, "baseline")], done[(cond.id, "method")],
                                       bud, seed=i)
        suite["details"]["track"] = track_info
        suites[cond.id], ratio_reps[cond.id] = suite, reps
    result = {
        "schema_version": SCHEMA_VERSION,
        "kind": "control",
        "degzoo_version": __version__,
        "zoo": {"release": f"control-track/{bud.name}", "manifest_sha256": track_sha},
        "control": identity,
        "suites": suites,
        "summary": _summary(suites, ratio_reps, bud),
        "cost": {
            "wall_seconds": round(wall, 1),
            "train_seconds": round(sum(r.get("train_seconds", 0.0) for r in done.values()), 1),
            "metric_seconds": round(sum(r.get("metric_seconds", 0.0) for r in done.values()), 1),
            "ensembles_trained": len(jobs),
            "ensembles_cached": 2 * len(bud.conditions) - len(jobs),
            "engine": _engine_label(jobs, workers, scheduler, cluster),
            "device": device,
        },
        "environment": _environment(),
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    }
    result = _validated(result)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"control-{label}-{bud.name}.json"
        _write(result, path)
        say(f"wrote {path}")
    return result


def _engine_label(jobs: list, workers: int | None, scheduler: str | None, cluster: str | None) -> str:
    if scheduler:
        return f"dask scheduler {scheduler}"
    if cluster:
        return f"dask {cluster}"
    return f"{max(1, min(workers or os.cpu_count() or 1, max(len(jobs), 1)))} local process(es)"


def _train_settings_cls() -> type:
    from degzoo.training import TrainSettings

    return TrainSettings


def _reporter(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, file=sys.stderr, flush=True)
    return lambda line: None


def _arm_line(rec: dict[str, Any]) -> str:
    if "error" in rec and "status" not in rec:
        return rec["error"]
    status = rec["status"]
    n = len(status)
    parts = [f"{status.count('converged')}/{n} converged"]
    if status.count("diverged"):
        parts.append(f"{status.count('diverged')} diverged")
    parts.append(f"train {rec.get('train_seconds', 0):.0f} s, metrics {rec.get('metric_seconds', 0):.0f} s")
    return ", ".join(parts)


def _job_key(job: dict[str, Any]) -> str:
    blob = json.dumps(
        {"condition": job["condition"], "arm": job["arm"],
         "controls": [control_identity(c) for c in job["controls"]],
         "metrics": job["metrics"], "probe_trials": job["probe_trials"], "device": job["device"],
         "version": __version__},
        sort_keys=True, default=list,
    )
    return f"{job['condition']['id']}-{job['arm']}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _cache_read(out: Path | None, job: dict[str, Any]) -> dict[str, Any] | None:
    if out is None:
        return None
    path = out / CACHE_DIR / f"{job['key']}.json"
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if rec.get("key") == job["key"] else None


def _cache_write(out: Path | None, rec: dict[str, Any]) -> None:
    if out is None:
        return
    path = out / CACHE_DIR / f"{rec['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------------


def _arm_counts(rec: dict[str, Any]) -> dict[str, Any]:
    if "status" not in rec:
        return {"error": rec.get("error", "no result")}
    status = rec["status"]
    losses = [v for v in rec["final_loss"] if v is not None]
    return {
        "members": len(status),
        "converged": status.count("converged"),
        "not_converged": status.count("not_converged"),
        "diverged": status.count("diverged"),
        "final_loss_median": float(np.median(losses)) if losses else None,
        "final_loss_max": float(np.max(losses)) if losses else None,
        "steps_median": int(np.median(rec["steps"])),
        "threshold": rec["threshold"],
        "hidden": rec["hidden"],
        "train_seconds": rec.get("train_seconds"),
        "metric_seconds": rec.get("metric_seconds"),
    }


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def statistic_replicates(data: np.ndarray, kind: str, idx: np.ndarray) -> np.ndarray:
    """Ensemble degeneracy on each resample of members ``idx [B, n]``.

    ``kind="scores"``: population std of per-member scores (σ_OOD); ``"pairwise"``: mean distance
    between *distinct* resampled members (a member drawn twice is not compared with itself), as
    :func:`degzoo.metrics.bootstrap_pairwise` does. ``idx = arange(n)[None]`` gives the estimate.
    """
    if kind == "scores":
        return data[idx].std(axis=1)
    sub = data[idx[:, :, None], idx[:, None, :]]
    distinct = idx[:, :, None] != idx[:, None, :]
    counts = distinct.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (sub * distinct).sum(axis=(1, 2)) / np.maximum(counts, 1), np.nan)


def paired_change(base: np.ndarray, meth: np.ndarray, kind: str, *, n_boot: int = 1000,
                  confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Baseline and method statistics, their difference and ratio, with a paired bootstrap.

    ``base``/``meth``: per-member scores ``[n]`` (``kind="scores"``: statistic = population std)
    or pairwise distances ``[n, n]`` (``kind="pairwise"``: mean distance between distinct members)
    over the *same* members in the same order. Each replicate resamples members once and uses
    that resample for both arms, so the CI of the difference accounts for the pairing.
    """
    base, meth = np.asarray(base, np.float64), np.asarray(meth, np.float64)
    n = base.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    full = np.arange(n)[None]
    b0 = float(statistic_replicates(base, kind, full)[0])
    m0 = float(statistic_replicates(meth, kind, full)[0])
    rb, rm = statistic_replicates(base, kind, idx), statistic_replicates(meth, kind, idx)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_reps = np.where(rb > 0, rm / rb, np.nan)
    out = {
        "baseline": score_dict(b0, rb, n, confidence),
        "method": score_dict(m0, rm, n, confidence),
        "change": score_dict(m0 - b0, rm - rb, n, confidence),
        "ratio": score_dict(m0 / b0, ratio_reps, n, confidence) if b0 > 0 else None,
        "_reps_ratio": ratio_reps,
    }
    return out


def _direction(score: dict[str, Any] | None) -> str:
    if score is None:
        return "n/a"
    if score["high"] < 0:
        return "decrease"
    if score["low"] > 0:
        return "increase"
    return "no significant change"


def _condition_suite(cond: TrackCondition, base: dict[str, Any], meth: dict[str, Any], bud: Budget,
                     *, seed: int) -> dict[str, Any]:
    seconds = sum(r.get("train_seconds", 0.0) + r.get("metric_seconds", 0.0) for r in (base, meth))
    details: dict[str, Any] = {
        "task": dict(cond.task), "members": cond.members, "seeds": list(cond.seeds),
        "training": dict(cond.training),
        "baseline": _arm_counts(base), "method": _arm_counts(meth),
    }
    scores: dict[str, Any] = {}
    messages = []
    for arm, rec in (("baseline", base), ("method", meth)):
        if "status" in rec:
            k, n = rec["status"].count("converged"), len(rec["status"])
            lo, hi = wilson(k, n, bud.confidence)
            scores[f"converged_{arm}"] = {"value": k / n, "low": lo, "high": hi, "n": n}
    if "error" in meth and "status" not in meth:
        return {"status": "error", "scores": scores, "details": details,
                "message": f"method: {meth['error']}", "seconds": round(seconds, 1)}, {}
    if "error" in base and "status" not in base:
        return {"status": "error", "scores": scores, "details": details,
                "message": f"baseline: {base['error']}", "seconds": round(seconds, 1)}, {}
    kb, km = base["status"].count("converged"), meth["status"].count("converged")
    matched = kb == km == cond.members
    details["performance_matched"] = matched
    if not matched:
        messages.append(
            f"performance not matched: baseline {kb}/{cond.members} converged, "
            f"method {km}/{cond.members} converged ({meth['status'].count('diverged')} diverged)"
        )
    paired = [i for i in range(cond.members) if base["status"][i] == meth["status"][i] == "converged"]
    details["paired_members"] = paired
    if len(paired) < 2:
        messages.append(f"only {len(paired)} member(s) converged in both arms: degeneracy not measured")
        return {"status": "failed", "scores": scores, "details": details,
                "message": "; ".join(messages), "seconds": round(seconds, 1)}, {}
    levels: dict[str, Any] = {}
    reps: dict[str, np.ndarray] = {}
    for lvl in LEVELS:
        rb, rm = base["metrics"].get(lvl, {}), meth["metrics"].get(lvl, {})
        err = rb.get("error") or rm.get("error")
        if err:
            messages.append(f"{lvl}: {err}")
            continue
        kind = "scores" if "scores" in rb else "pairwise"
        pos_b = [base["measured"].index(i) for i in paired]
        pos_m = [meth["measured"].index(i) for i in paired]
        db, dm = np.asarray(rb[kind]), np.asarray(rm[kind])
        if kind == "scores":
            db, dm = db[pos_b], dm[pos_m]
        else:
            db, dm = db[np.ix_(pos_b, pos_b)], dm[np.ix_(pos_m, pos_m)]
        pc = paired_change(db, dm, kind, n_boot=bud.n_boot, confidence=bud.confidence, seed=seed)
        for what in ("baseline", "method", "change", "ratio"):
            if pc[what] is not None:
                scores[f"{lvl}_{what}"] = pc[what]
        if pc["ratio"] is not None:
            reps[lvl] = pc["_reps_ratio"]
        levels[lvl] = {"metric": rb.get("identity"), "direction": _direction(pc["change"]),
                       "seconds": {"baseline": rb.get("seconds"), "method": rm.get("seconds")}}
    details["levels"] = levels
    # a level whose metric raised makes the condition an error (its other levels are kept)
    status = "ok" if len(levels) == len(LEVELS) else "error"
    return {"status": status, "scores": scores, "details": details,
            "message": "; ".join(messages) or None, "seconds": round(seconds, 1)}, reps


def _summary(suites: dict[str, Any], ratio_reps: dict[str, dict[str, np.ndarray]],
             bud: Budget) -> dict[str, Any]:
    """The main scores across conditions (every one a score with an interval).

    ``<level>.ratio_geomean``: geometric mean over conditions of method / baseline, its CI from
    the per-condition paired bootstrap replicates (conditions resampled independently);
    ``<level>.decrease`` / ``.increase``: conditions whose change CI excludes 0 (exact counts);
    ``performance.*``: shares converged (Wilson CIs), diverged count, and whether every condition
    had matched performance (1 or 0).
    """
    out: dict[str, Any] = {}
    n_cond = len(suites)
    for lvl in LEVELS:
        have = [cid for cid in suites if lvl in ratio_reps.get(cid, {})
                and suites[cid]["scores"].get(f"{lvl}_ratio", {}).get("value", 0) > 0]
        if have:
            point = float(np.exp(np.mean([math.log(suites[c]["scores"][f"{lvl}_ratio"]["value"])
                                          for c in have])))
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.stack([np.log(ratio_reps[c][lvl]) for c in have])
            score = score_dict(point, np.exp(logs.mean(axis=0)), len(have), bud.confidence)
            if score is not None:
                out[f"{lvl}.ratio_geomean"] = score
        dirs = [suites[c].get("details", {}).get("levels", {}).get(lvl, {}).get("direction") for c in suites]
        for word in ("decrease", "increase"):
            k = sum(d == word for d in dirs)
            out[f"{lvl}.{word}"] = {"value": k, "low": k, "high": k, "n": n_cond}
    for arm in ARMS:
        conv = sum(s["details"].get(arm, {}).get("converged", 0) for s in suites.values())
        total = sum(s["details"].get("members", 0) for s in suites.values())
        lo, hi = wilson(conv, total, bud.confidence)
        out[f"performance.converged_{arm}"] = {"value": conv / total if total else 0.0,
                                               "low": lo, "high": hi, "n": total}
        div = sum(s["details"].get(arm, {}).get("diverged", 0) for s in suites.values())
        out[f"performance.diverged_{arm}"] = {"value": div, "low": div, "high": div, "n": total}
    matched = float(all(s["details"].get("performance_matched", False) for s in suites.values()))
    out["performance.matched"] = {"value": matched, "low": matched, "high": matched, "n": n_cond}
    ok = sum(s["status"] == "ok" for s in suites.values())
    out["conditions.ok"] = {"value": ok, "low": ok, "high": ok, "n": n_cond}
    return out


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------


def _validated(result: dict[str, Any]) -> dict[str, Any]:
    """Strict JSON (helper keys dropped, NaN to null), validated against the results schema."""
    result = _jsonable(result)
    try:
        from degzoo.benchmark.results import validate_result
    except ImportError:  # pragma: no cover - the schema module ships with degzoo.benchmark
        return result
    validate_result(result)
    return result


def _write(result: dict[str, Any], path: Path) -> None:
    write_atomically(path, json.dumps(result, indent=2, allow_nan=False) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _num(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _environment() -> dict[str, Any]:
    import scipy

    return {**environment(), "scipy": scipy.__version__}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "control"


def _fmt_params(params: Mapping[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""


def track_info(result: Mapping[str, Any]) -> dict[str, Any]:
    """Label, spec, class, budget and baseline controls of a control result (from its suites)."""
    for suite in result.get("suites", {}).values():
        info = suite.get("details", {}).get("track")
        if info:
            return dict(info)
    release = str(result.get("zoo", {}).get("release", ""))
    return {"label": result.get("control", {}).get("name"), "budget": release.rpartition("/")[2],
            "baseline": []}


def load_reference_results(budget: str, directory: str | os.PathLike[str] | None = None
                           ) -> dict[str, dict[str, Any]]:
    """Reference-control results of ``budget``: ``{label: result}`` from ``directory``.

    Default directory: ``degzoo/reference/control/`` inside the package (shipped reference
    results); files are valid result JSONs of kind "control" computed on the same budget
    (``zoo.release == "control-track/<budget>"`` and the budget's current checksum);
    other results are skipped, and a file that is not a JSON object raises
    :class:`~degzoo.errors.ValidationError` naming it.
    """
    root = Path(directory) if directory is not None else REFERENCE_DIR
    out: dict[str, dict[str, Any]] = {}
    if not root.is_dir():
        return out
    expected = BUDGETS[budget].sha256 if budget in BUDGETS else None
    for path in sorted(root.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError(
                f"{path}: not a readable result file ({exc}); recompute it with "
                "'degzoo control reference' or remove it from the folder"
            ) from exc
        if not isinstance(data, dict):
            raise ValidationError(f"{path}: a result file holds a JSON object, got {type(data).__name__}")
        if data.get("kind") != "control":
            continue
        zoo = data.get("zoo", {})
        if zoo.get("release") != f"control-track/{budget}":
            continue
        if expected is not None and zoo.get("manifest_sha256") != expected:
            continue  # computed on another definition of the budget
        out[str(track_info(data).get("label") or path.stem)] = data
    return out


def _fmt_score(s: dict[str, Any] | None, *, signed: bool = False) -> str:
    if s is None:
        return "n/a"
    f = "{:+.3g}" if signed else "{:.3g}"
    return f"{f.format(s['value'])} [{f.format(s['low'])}, {f.format(s['high'])}]"


def _arrow(s: dict[str, Any] | None) -> str:
    d = _direction(s)
    return {"decrease": "↓", "increase": "↑", "no significant change": "≈"}.get(d, "")


def format_table(result: dict[str, Any], references: Mapping[str, dict[str, Any]] | None = None) -> str:
    """A terminal table: per condition, training outcome and each level's change with its CI."""
    ident = result["control"]
    info = track_info(result)
    refs = dict(references or {})
    base = ", ".join(f"{b['name']} {_fmt_params(b.get('params', {}))}" for b in info.get("baseline", []))
    lines = [
        f"control track {info.get('budget')!r}: {ident['name']} {_fmt_params(ident.get('params', {}))} "
        f"vs baseline{f' ({base})' if base else ''}"
        + (f"; training overrides {_fmt_params(info['overrides']['training'])}"
           if info.get("overrides", {}).get("training") else ""),
        "change = method − baseline (paired bootstrap 95% CI over members); ratio = method / baseline"
        + ("; reference controls show their ratio" if refs else ""),
        "",
    ]
    head = ["condition", "level", "baseline", "method", "change", "", "ratio", *refs]
    rows = [head]
    for cid, suite in result["suites"].items():
        det = suite["details"]
        b, m = det.get("baseline", {}), det.get("method", {})

        def perf(a: dict[str, Any]) -> str:
            if "error" in a:
                return "error"
            extra = f", {a['diverged']} div" if a.get("diverged") else ""
            return f"{a['converged']}/{a['members']} conv{extra}"

        flag = "matched" if det.get("performance_matched") else "NOT matched"
        rows.append([cid, "training", perf(b), perf(m), flag, "", "",
                     *[_ref_perf(r, cid) for r in refs.values()]])
        for lvl in LEVELS:
            sc = suite["scores"]
            ch = sc.get(f"{lvl}_change")
            ratio = sc.get(f"{lvl}_ratio")
            rows.append(["", lvl, _fmt_score(sc.get(f"{lvl}_baseline")), _fmt_score(sc.get(f"{lvl}_method")),
                         _fmt_score(ch, signed=True), _arrow(ch),
                         f"×{ratio['value']:.2f}" if ratio else "n/a",
                         *[_ref_ratio(r, cid, lvl) for r in refs.values()]])
        if suite["status"] != "ok" or suite.get("message"):
            rows.append(["", f"[{suite['status']}]", suite.get("message") or "", "", "", "", "",
                         *["" for _ in refs]])
    widths = [max(len(str(r[i])) for r in rows if i < len(r) and not str(r[1]).startswith("["))
              for i in range(len(head))]
    for r in rows:
        if str(r[1]).startswith("["):
            lines.append(f"{r[0]:<{widths[0]}}  {r[1]} {r[2]}")
        else:
            lines.append("  ".join(f"{c!s:<{w}}" for c, w in zip(r, widths, strict=True)).rstrip())
        if r is head:
            lines.append("  ".join("-" * w for w in widths))
    summ = result["summary"]
    lines.append("")
    for lvl in LEVELS:
        g = summ.get(f"{lvl}.ratio_geomean")
        gm = f"geometric-mean ratio ×{g['value']:.2f} [{g['low']:.2f}, {g['high']:.2f}]" if g else "no ratio"
        dec, inc = summ[f"{lvl}.decrease"], summ[f"{lvl}.increase"]
        lines.append(f"{lvl:<9}  {gm};  {dec['value']:g}/{dec['n']} conditions ↓, "
                     f"{inc['value']:g}/{inc['n']} ↑")
    cb, cm = summ["performance.converged_baseline"], summ["performance.converged_method"]
    lines.append(
        f"converged: baseline {cb['value']:.0%} of {cb['n']}, method {cm['value']:.0%} of {cm['n']} "
        f"({summ['performance.diverged_method']['value']:g} diverged)"
        + ("" if summ["performance.matched"]["value"] == 1 else "  ⚠ performance not matched")
    )
    lines.append(f"wall time {result['cost']['wall_seconds']:.0f} s ({result['cost']['engine']})")
    return "\n".join(lines)


def _ref_ratio(ref: dict[str, Any], cid: str, lvl: str) -> str:
    r = ref.get("suites", {}).get(cid, {}).get("scores", {}).get(f"{lvl}_ratio")
    if r is None:
        return "n/a"
    ch = ref["suites"][cid]["scores"].get(f"{lvl}_change")
    return f"×{r['value']:.2f}{_arrow(ch)}"


def _ref_perf(ref: dict[str, Any], cid: str) -> str:
    m = ref.get("suites", {}).get(cid, {}).get("details", {}).get("method", {})
    return f"{m['converged']}/{m['members']}" if "converged" in m else "n/a"
