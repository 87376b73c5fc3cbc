"""Training throughput: E members batched vs the same members one after another with torch.nn.RNN.

Prints networks·steps per second for both, their ratio, and the achieved GFLOP/s of the batched
training step against a plain ``torch.matmul`` peak measured in the same round. Rounds interleave
the three measurements, so load from other processes hits them alike; the best round and the
spread are printed.

    python benchmarks/train_throughput.py --members 16 --hidden 64 --batch 128 --trial-length 100 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from degzoo.models import Architecture
from degzoo.tasks import get_task
from degzoo.training import TrainSettings, data_rng, train_ensemble


def batched_rate(task, arch, members: int, steps: int, batch: int) -> float:
    """Networks·steps per second of :func:`train_ensemble` (sampling included)."""
    settings = TrainSettings(max_steps=steps, batch_size=batch, steps_per_epoch=steps, threshold=0.0)
    train_ensemble(task, arch, range(members), dataclass_replace(settings, max_steps=2), progress=False)
    start = time.perf_counter()
    train_ensemble(task, arch, range(members), settings, progress=False)
    return members * steps / (time.perf_counter() - start)


def dataclass_replace(settings: TrainSettings, **kw) -> TrainSettings:
    import dataclasses

    return dataclasses.replace(settings, **kw)


def sequential_rate(task, arch, members: int, steps: int, batch: int) -> float:
    """The same members trained one after another: nn.RNN + nn.Linear + torch.optim.Adam."""
    start = time.perf_counter()
    for seed in range(members):
        torch.manual_seed(seed)
        rnn = nn.RNN(arch.n_inputs, arch.hidden, batch_first=True)
        readout = nn.Linear(arch.hidden, arch.n_outputs)
        opt = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=1e-3)
        rng = data_rng(seed)
        for _ in range(steps):
            x, y = (torch.as_tensor(a) for a in task.sample(batch, rng))
            loss = ((readout(rnn(x)[0]) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return members * steps / (time.perf_counter() - start)


def step_flops(arch: Architecture, members: int, batch: int, trial_length: int) -> float:
    """Multiply-adds ×2 of forward (recurrence, input drive, readout), backward counted as 2× forward."""
    H, In, Out = arch.hidden, arch.n_inputs, arch.n_outputs
    forward = 2 * members * batch * trial_length * (H * H + H * In + H * Out)
    return 3.0 * forward


def matmul_peak(n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--trial-length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds of (peak, batched, sequential); on a shared machine "
                             "report the best round and the spread")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task("flipflop", bits=3, trial_length=args.trial_length)
    arch = Architecture(task.n_inputs, task.n_outputs, hidden=args.hidden)
    flops = step_flops(arch, args.members, args.batch, args.trial_length)

    print(f"threads {args.threads}; E={args.members}, H={args.hidden}, batch {args.batch}, "
          f"T={args.trial_length}, {args.steps} steps, {args.repeats} rounds")
    print(f"{'round':>5} {'batched':>10} {'sequential':>11} {'ratio':>7} {'GFLOP/s':>8} {'peak':>7} "
          f"{'share':>7}")
    ratios, shares, rates = [], [], []
    for r in range(args.repeats):
        peak = matmul_peak()
        batched = batched_rate(task, arch, args.members, args.steps, args.batch)
        sequential = sequential_rate(task, arch, args.members, args.steps, args.batch)
        gflops = flops * batched / args.members / 1e9
        rates.append((batched, sequential))
        ratios.append(batched / sequential)
        shares.append(100 * gflops / peak)
        print(f"{r:5d} {batched:10.1f} {sequential:11.1f} {ratios[-1]:6.2f}× {gflops:8.1f} {peak:7.1f} "
              f"{shares[-1]:6.1f}%")
    print("(batched, sequential: network·steps/s; GFLOP/s of the batched step; peak: torch.matmul GFLOP/s)")
    best_batched, best_sequential = (max(r[i] for r in rates) for i in (0, 1))
    print(f"ratio batched/sequential  {best_batched / best_sequential:.2f}× best-of-rounds of each "
          f"(per-round range {min(ratios):.2f}–{max(ratios):.2f})")
    print(f"share of matmul peak      {max(shares):.1f} % best round "
          f"(range {min(shares):.1f}–{max(shares):.1f})")


if __name__ == "__main__":
    main()
