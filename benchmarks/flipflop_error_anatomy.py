"""Where a trained flip-flop network's error sits: after flips, after other channels' pulses, or in
quiet holding; how much the held output of one 3-bit state varies with the history that led
there; and whether it holds through a long silence (a network with 8 point attractors holds one
output per state, for ever; a leaky transient memory drifts).

Used on µP at τ = 0.1 (issue 24), whose members stop at a training MSE of about 0.03: trains a few
members (or takes ``--release``'s condition), then prints the held-out MSE by event and per state.

    python benchmarks/flipflop_error_anatomy.py --controls '[{"name": "mup", "gamma": 1.0, "tau": 0.1}]' \\
        --steps 3000
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from degzoo.models import Architecture
from degzoo.models.rnn import forward
from degzoo.tasks.flipflop import FlipFlop
from degzoo.training import TrainSettings, control_from_dict, train_ensemble


def steps_since(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trial, step and channel: steps since the channel's last pulse, since its last flip, and
    since another channel's last pulse (a large number where there was none)."""
    B, T, C = y.shape
    own, flip, other = (np.full((B, T, C), 10**6) for _ in range(3))
    pulsed = x != 0
    for c in range(C):
        others = np.delete(pulsed, c, axis=2).any(axis=2)
        flipped = np.zeros((B, T), bool)
        flipped[:, 0] = pulsed[:, 0, c]
        flipped[:, 1:] = y[:, 1:, c] != y[:, :-1, c]
        for since, event in ((own, pulsed[:, :, c]), (flip, flipped), (other, others)):
            last = np.full(B, -(10**6))
            for t in range(T):
                last = np.where(event[:, t], t, last)
                since[:, t, c] = t - last
    return own, flip, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=3)
    parser.add_argument("--controls", default="[]", help="controls as a JSON list")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-2)
    parser.add_argument("--trials", type=int, default=1024, help="held-out trials")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = FlipFlop(bits=args.bits, trial_length=60)
    settings = TrainSettings(lr=args.lr, batch_size=64, max_steps=args.steps, steps_per_epoch=100,
                             grad_clip=1.0)
    res = train_ensemble(task, Architecture(args.bits, args.bits, hidden=args.hidden), range(args.members),
                         settings, [control_from_dict(c) for c in json.loads(args.controls)], progress=False)
    x, y = task.sample(args.trials, np.random.default_rng(9))
    with torch.no_grad():
        out, rates = forward({k: torch.as_tensor(v) for k, v in res.params.items()}, torch.as_tensor(x),
                             res.architecture)
    out = out.numpy()
    err = ((out - y[None]) ** 2).mean(0)  # [B, T, C], mean over members
    own, flip, other = steps_since(x, y)
    print(f"final training MSE {np.round(res.final_loss, 4).tolist()}; held-out MSE {err.mean():.4f}")
    for name, mask in (("< 10 steps after a flip", flip < 10),
                       ("< 10 after a same-sign pulse only", (own < 10) & (flip >= 10)),
                       ("< 10 after another channel's pulse only", (other < 10) & (own >= 10)),
                       ("no pulse on any channel for 10 steps", (other >= 10) & (own >= 10))):
        print(f"  {name:40s} {mask.mean():5.1%} of steps, MSE {err[mask].mean():.4f}, "
              f"{err[mask].sum() / err.sum():5.1%} of the error")
    quiet = ((own >= 10) & (other >= 10)).all(-1) & (y != 0).all(-1)
    codes = ((y > 0) * (2 ** np.arange(args.bits)[::-1])).sum(-1)
    print("  held outputs per state in quiet steps (member 0: mean and SD over occurrences):")
    for code in range(2**args.bits):
        m = quiet & (codes == code)
        if m.sum() >= 20:
            o = out[0][m]
            print(f"    {code:0{args.bits}b}: {m.sum():5d} steps, MSE {err[m].mean():.4f}, "
                  f"mean {np.round(o.mean(0), 2)}, SD {np.round(o.std(0), 2)}")
    r = np.abs(rates.numpy())
    print(f"  units' rates |tanh h| > 0.95: {(r > 0.95).mean():.1%}, > 0.99: {(r > 0.99).mean():.1%}")
    # the task's pulses for 15 steps, then 185 silent steps: attractors hold, transients drift
    x, y = FlipFlop(bits=args.bits, trial_length=200).sample(2 * args.trials, np.random.default_rng(3))
    x[:, 15:] = 0
    y[:, 15:] = y[:, 14:15]
    x, y = x[(y[:, 14] != 0).all(-1)], y[(y[:, 14] != 0).all(-1)]
    with torch.no_grad():
        out, _ = forward({k: torch.as_tensor(v) for k, v in res.params.items()}, torch.as_tensor(x),
                         res.architecture)
    out = out.numpy()
    codes = ((y[:, 14] > 0) * (2 ** np.arange(args.bits)[::-1])).sum(-1)
    print("  silence after the last pulse (step 14): MSE, member 0's SD of the held output in a state")
    for t in (15, 20, 30, 50, 100, 199):
        sd = np.mean([out[0][codes == c, t].std(0).mean() for c in np.unique(codes)])
        print(f"    step {t:3d}: MSE {((out[:, :, t] - y[None, :, t]) ** 2).mean():.4f}, SD {sd:.3f}")


if __name__ == "__main__":
    main()
