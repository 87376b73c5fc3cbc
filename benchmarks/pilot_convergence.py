"""Convergence pilots: train a few members of one condition and print the converged fraction.

Used to choose zoo-v2's settings (issue 13). One line of JSON per run: settings, converged/members,
median final epoch loss, median step at which the threshold was reached, wall seconds, and the
projected wall time of 32 members (seconds per member·step from this run, times 32 members × the
median steps, or max_steps where members did not converge).

    python benchmarks/pilot_convergence.py \
        --task '{"name": "path_integration", "dims": 2, "trial_length": 30}' --hidden 64 \
        --members 4 --train '{"lr": 1e-3, "max_steps": 8000, "lr_schedule": "plateau"}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from degzoo.models import Architecture
from degzoo.tasks import task_from_dict
from degzoo.training import TrainSettings, control_from_dict, train_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, help="task as JSON, e.g. '{\"name\": \"flipflop\"}'")
    parser.add_argument("--controls", default="[]", help="controls as a JSON list")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="first member seed")
    parser.add_argument("--train", default="{}", help="TrainSettings fields as JSON")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = task_from_dict(json.loads(args.task))
    controls = [control_from_dict(c) for c in json.loads(args.controls)]
    train = {"batch_size": 64, "steps_per_epoch": 100, "patience_epochs": 3, **json.loads(args.train)}
    settings = TrainSettings(**train)
    arch = Architecture(task.n_inputs, task.n_outputs, hidden=args.hidden)
    seeds = range(args.seed, args.seed + args.members)
    start = time.perf_counter()
    result = train_ensemble(task, arch, seeds, settings, controls, progress=False)
    seconds = time.perf_counter() - start
    member_steps = int(result.steps.sum())
    reached = result.reached_step[result.reached_step >= 0]
    typical = np.where(result.converged, result.steps, settings.max_steps)
    print(json.dumps({
        "task": task.to_dict(), "controls": json.loads(args.controls), "hidden": args.hidden,
        "train": train, "converged": f"{int(result.converged.sum())}/{args.members}",
        "median_final_loss": float(np.nanmedian(result.final_loss)),
        "final_losses": [round(float(x), 4) for x in result.final_loss],
        "median_reached_step": float(np.median(reached)) if reached.size else None,
        "final_lrs": [float(f"{x:.3g}") for x in result.lr],
        "median_loss_at_step": {  # training MSE of the epoch ending at each doubling of steps
            str(e * settings.steps_per_epoch): round(float(np.nanmedian(result.loss_curve[:, e - 1])), 5)
            for e in (2 ** k for k in range(30)) if e <= result.loss_curve.shape[1]
            and np.isfinite(result.loss_curve[:, e - 1]).any()},
        "seconds": round(seconds, 1),
        "projected_32_members_s": round(seconds / max(member_steps, 1) * 32 * float(np.median(typical)), 0),
    }))


if __name__ == "__main__":
    main()
