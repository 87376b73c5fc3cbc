"""``degzoo train``: train one ensemble and write its ensemble file."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from degzoo.cli._args import parse_control, parse_flags
from degzoo.errors import DegzooError, InvalidParameterError
from degzoo.models import Architecture
from degzoo.tasks import available_tasks, get_task
from degzoo.training import TrainSettings, check_training_memory, get_control, train_ensemble
from degzoo.training.controls import apply_controls
from degzoo.zoo import Ensemble, write_ensemble
from degzoo.zoo.builder import PROBE_TRIALS
from degzoo.zoo.recipes import MAX_HIDDEN, MAX_MEMBERS, zoo_task_defaults


def member_seeds(seed: int, members: int) -> list[int]:
    """Distinct member seeds derived from one ensemble seed (recorded in the file)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(members)]


def task_parameters_help() -> str:
    """Every task's parameters with their defaults, for ``degzoo train --help``."""
    lines = [textwrap.fill(
        "task parameters (give them as --NAME VALUE, e.g. --bits 3 --delay-max 40; * marks the embedded "
        "zoo's value, used when the parameter is not given, so that the ensemble shares the zoo's task "
        "and probe set):", width=100)]
    for name in available_tasks():
        task, zoo = get_task(name), zoo_task_defaults(name)
        values = {f.name: zoo.get(f.name, getattr(task, f.name)) for f in dataclasses.fields(task)}
        params = ", ".join(
            f"--{k.replace('_', '-')} {str(v).lower() if isinstance(v, bool) else v}{'*' * (k in zoo)}"
            for k, v in values.items()
        )
        lines.append(textwrap.fill(f"{name}: {params}", width=100, initial_indent="  ",
                                   subsequent_indent="      "))
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an ensemble and write it as an ensemble file",
        description="Train an ensemble of RNNs on a task and write it as an ensemble file. Task "
        "parameters follow as --NAME VALUE (listed below).",
        epilog=task_parameters_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", default="flipflop", help=f"one of {', '.join(available_tasks())} "
                   "(default: flipflop)")
    p.add_argument("--members", type=int, default=8, help="number of networks (default: 8)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units (default: 32)")
    p.add_argument("--steps", type=int, default=3000, help="maximum training steps (default: 3000)")
    p.add_argument("--seed", type=int, default=0,
                   help="ensemble seed, an integer >= 0; member seeds derive from it (default: 0)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate, in (0, 1] (default: 3e-3)")
    p.add_argument("--grad-clip", type=float,
                   help="clip each member's gradient to this norm (default: no clipping; the zoo uses 1)")
    p.add_argument("--lr-schedule", choices=("constant", "plateau"), default="constant",
                   help="constant, or plateau: each member's lr times --lr-factor after --lr-patience "
                   "epochs without improvement, as torch's ReduceLROnPlateau (default: constant)")
    p.add_argument("--lr-factor", type=float, help="with --lr-schedule plateau: lr multiplier (default: 0.5)")
    p.add_argument("--lr-patience", type=int,
                   help="with --lr-schedule plateau: epochs without improvement (default: 40)")
    p.add_argument("--min-lr", type=float, help="with --lr-schedule plateau: lowest lr (default: 0)")
    p.add_argument("--batch-size", type=int, default=32, help="trials per training step (default: 32)")
    p.add_argument("--steps-per-epoch", type=int, default=100,
                   help="steps per epoch; convergence is checked on each epoch's mean loss (default: 100)")
    p.add_argument("--patience", type=int, default=3,
                   help="epochs trained past the convergence threshold (default: 3)")
    p.add_argument("--control", action="append", default=[], metavar="NAME[:k=v,...]",
                   help="a control, e.g. l1:weight=1e-4, nuclear:weight=1e-3, mup:gamma=2, aux, "
                   "init_gain:gain=3, low_rank:rank=2")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: small networks train fastest single-threaded)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file (default: OUT.ckpt)")
    p.add_argument("--out", type=Path, default=Path("ensemble.h5"), help="output file (default: ensemble.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run, accepts_extra=True)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    _check_numbers(args)
    _check_device(args.device)
    given = parse_flags(extra)
    zoo = {k: v for k, v in zoo_task_defaults(args.task).items() if k not in given}
    task = get_task(args.task, **{**zoo, **given})
    controls = [get_control(name, **params) for name, params in map(parse_control, args.control)]
    arch = Architecture(n_inputs=task.n_inputs, n_outputs=task.n_outputs, hidden=args.hidden)
    schedule = {k: v for k, v in (("lr_factor", args.lr_factor), ("lr_patience", args.lr_patience),
                                  ("min_lr", args.min_lr)) if v is not None}
    try:
        settings = TrainSettings(lr=args.lr, batch_size=args.batch_size, max_steps=args.steps,
                                 steps_per_epoch=args.steps_per_epoch, patience_epochs=args.patience,
                                 grad_clip=args.grad_clip, device=args.device, lr_schedule=args.lr_schedule,
                                 **schedule)
    except InvalidParameterError as exc:
        raise InvalidParameterError(_as_options(str(exc))) from None
    check_training_memory(*apply_controls(controls, task, arch)[:2], args.members, settings)
    checkpoint = args.checkpoint or args.out.with_name(args.out.name + ".ckpt")
    _check_output(args.out, args.overwrite)
    _check_writable(checkpoint, "--checkpoint")
    torch.set_num_threads(args.threads)
    seeds = member_seeds(args.seed, args.members)
    print(f"training {args.members} × {arch.hidden}-unit RNNs on {task}", file=sys.stderr)
    if zoo:
        print(f"(the embedded zoo's {', '.join(f'{k}={v}' for k, v in zoo.items())}: the ensemble shares "
              "the zoo's probe set; override with --NAME VALUE)", file=sys.stderr)
    start = time.perf_counter()
    try:
        result = train_ensemble(task, arch, seeds, settings, controls, checkpoint=checkpoint,
                                progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: state saved to {checkpoint}; run the same command again to resume",
              file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - start
    n, converged = len(seeds), int(result.converged.sum())
    if (result.status == "diverged").all():
        checkpoint.unlink(missing_ok=True)
        raise DegzooError(
            f"all {n} members diverged (their loss became NaN or infinite) at lr {args.lr:g}; nothing "
            "was written — lower --lr or add --grad-clip 1"
        )
    write_ensemble(args.out, result, result.task.probe(n=PROBE_TRIALS),
                   condition={"id": args.out.stem, "ensemble_seed": args.seed})
    checkpoint.unlink(missing_ok=True)
    with Ensemble.open(args.out) as ensemble:
        probe_loss = ensemble.loss()
    print(result.summary())
    print(f"probe-set loss: median {np.nanmedian(probe_loss):.3g}, max {np.nanmax(probe_loss):.3g}")
    print(f"wrote {args.out} in {elapsed:.1f} s")
    if converged < n / 2:
        print(f"warning: only {converged}/{n} members converged (training loss below "
              f"{result.threshold:g} within {args.steps} steps); train longer (--steps), lower --lr "
              "or add --grad-clip 1 before comparing these networks", file=sys.stderr)
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse counts and seeds outside their range before anything is built."""
    for flag, value, low, high in (("--members", args.members, 1, MAX_MEMBERS),
                                   ("--hidden", args.hidden, 1, MAX_HIDDEN),
                                   ("--threads", args.threads, 1, 1024)):
        if not low <= value <= high:
            raise InvalidParameterError(f"{flag} must be an integer in [{low}, {high}], got {value}")
    if args.seed < 0:
        raise InvalidParameterError(f"--seed must be an integer >= 0, got {args.seed}")


def _check_device(device: str) -> None:
    """The device must name a backend this machine has, so training does not fail after setup."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidParameterError(
            f"--device {device!r} is not a device; use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError(
                f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); "
                "use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidParameterError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InvalidParameterError(f"--device {device}: MPS is not available on this machine; use cpu")
    elif dev.type != "cpu":
        raise InvalidParameterError(f"--device {device}: not supported; use cpu, cuda, cuda:N or mps")


def _check_output(out: Path, overwrite: bool) -> None:
    """Refuse to replace an existing file unasked, and an unwritable path before training, not after."""
    if out.is_dir():
        raise InvalidParameterError(f"--out {out} is a folder; give a file name, e.g. {out / 'ensemble.h5'}")
    if out.exists() and not overwrite:
        raise InvalidParameterError(
            f"--out {out} exists; pass --overwrite to replace it, or choose another name"
        )
    _check_writable(out, "--out")


def _check_writable(path: Path, flag: str) -> None:
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InvalidParameterError(f"{flag} {path}: {existing} is a file, not a folder; choose another path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise InvalidParameterError(
            f"{flag} {path}: cannot write there ({exc.strerror or exc}); choose another path"
        ) from None


#: TrainSettings fields of the learning-rate schedule -> this command's options
_SCHEDULE_OPTIONS = {"lr_schedule": "--lr-schedule", "lr_factor": "--lr-factor",
                     "lr_patience": "--lr-patience", "min_lr": "--min-lr"}
_SCHEDULE_FIELD = r"\b(lr_schedule|lr_factor|lr_patience|min_lr)"


def _as_options(text: str) -> str:
    """TrainSettings' message in CLI words: ``lr_schedule='plateau'`` is ``--lr-schedule plateau``."""
    text = text.removeprefix("TrainSettings: ")
    text = re.sub(_SCHEDULE_FIELD + r"='([^']*)'",
                  lambda m: f"{_SCHEDULE_OPTIONS[m.group(1)]} {m.group(2)}", text)
    return re.sub(_SCHEDULE_FIELD + r"\b", lambda m: _SCHEDULE_OPTIONS[m.group(1)], text)
