"""``degzoo train``: train one ensemble and write its ensemble file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from degzoo.cli._args import parse_control, parse_flags
from degzoo.models import Architecture
from degzoo.tasks import get_task
from degzoo.training import TrainSettings, get_control, train_ensemble
from degzoo.zoo import Ensemble, write_ensemble


def member_seeds(seed: int, members: int) -> list[int]:
    """Distinct member seeds derived from one ensemble seed (recorded in the file)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(members)]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an ensemble and write it as an ensemble file",
        description="Train an ensemble of RNNs on a task. Task parameters follow as --NAME VALUE "
        "(e.g. --bits 3, --channels 2, --delay-max 40).",
    )
    p.add_argument("--task", default="flipflop", help="task name (default: flipflop)")
    p.add_argument("--members", type=int, default=8, help="number of networks (default: 8)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units (default: 32)")
    p.add_argument("--steps", type=int, default=3000, help="maximum training steps (default: 3000)")
    p.add_argument("--seed", type=int, default=0, help="ensemble seed; member seeds derive from it")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: 3e-3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--patience", type=int, default=3, help="epochs trained past the threshold")
    p.add_argument("--control", action="append", default=[], metavar="NAME[:k=v,...]",
                   help="a control, e.g. l1:weight=1e-4, nuclear:weight=1e-3, mup:gamma=2, aux")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: small networks train fastest single-threaded)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file (default: OUT.ckpt)")
    p.add_argument("--out", type=Path, default=Path("ensemble.h5"), help="output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run, accepts_extra=True)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    torch.set_num_threads(args.threads)
    task = get_task(args.task, **parse_flags(extra))
    controls = [get_control(name, **params) for name, params in map(parse_control, args.control)]
    arch = Architecture(n_inputs=task.n_inputs, n_outputs=task.n_outputs, hidden=args.hidden)
    settings = TrainSettings(lr=args.lr, batch_size=args.batch_size, max_steps=args.steps,
                             steps_per_epoch=args.steps_per_epoch, patience_epochs=args.patience,
                             device=args.device)
    checkpoint = args.checkpoint or args.out.with_name(args.out.name + ".ckpt")
    seeds = member_seeds(args.seed, args.members)
    print(f"training {args.members} × {arch.hidden}-unit RNNs on {task}", file=sys.stderr)
    start = time.perf_counter()
    try:
        result = train_ensemble(task, arch, seeds, settings, controls, checkpoint=checkpoint,
                                progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: state saved to {checkpoint}; run the same command again to resume",
              file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - start
    write_ensemble(args.out, result, result.task.probe(),
                   condition={"id": args.out.stem, "ensemble_seed": args.seed})
    checkpoint.unlink(missing_ok=True)
    ensemble = Ensemble.open(args.out)
    probe_loss = ensemble.loss()
    print(result.summary())
    print(f"probe-set loss: median {np.median(probe_loss):.3g}, max {probe_loss.max():.3g}")
    print(f"wrote {args.out} in {elapsed:.1f} s")
    ensemble.close()
    return 0
