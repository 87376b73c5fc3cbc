"""degzoo's DSA against the reference implementation (dsa-metric 2.0.2): speed and optimum quality.

    python benchmarks/dsa_vs_reference.py                       # 16 networks, H=64, 100 x 100
    python benchmarks/dsa_vs_reference.py --networks 6 --trials 50 --steps 60   # quick run

Networks are random numpy tanh RNNs, ``h_t = tanh(W h_{t-1} + U x_t)`` with ``W`` of gain
``--gain``, all driven by the same seeded random pulse inputs (a shared probe set). Both
implementations get the same trajectories and the same settings (``--n-delays``, ``--rank``,
angular score; the reference runs its Adam optimiser for ``--iters`` iterations at ``--lr``,
twice per pair for reflections, seeded with ``--ref-seed``).

Printed: wall time of the DMD fits and of all pairs for each implementation and the ratios; the
agreement of the DMD spectra; and, pair by pair, which implementation reached the lower (better)
distance and by how much — once on each implementation's own operators and once with degzoo's
solver run on the reference's own operators, which isolates the optimiser.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def probe_inputs(n_trials: int, n_steps: int, n_inputs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pulses = rng.choice([-1.0, 0.0, 1.0], p=[0.05, 0.9, 0.05], size=(n_trials, n_steps, n_inputs))
    return pulses + 0.1 * rng.standard_normal((n_trials, n_steps, n_inputs))


def trajectories(args: argparse.Namespace) -> np.ndarray:
    """``[E, n_trials, T, H]`` hidden states of ``args.networks`` random tanh RNNs."""
    x = probe_inputs(args.trials, args.steps, args.inputs, args.seed)
    out = np.empty((args.networks, args.trials, args.steps, args.units))
    for e in range(args.networks):
        rng = np.random.default_rng([args.seed, e])
        w = args.gain * rng.standard_normal((args.units, args.units)) / np.sqrt(args.units)
        u = rng.standard_normal((args.units, args.inputs))
        h = np.zeros((args.trials, args.units))
        for t in range(args.steps):
            h = np.tanh(h @ w.T + x[:, t] @ u.T)
            out[e, :, t] = h
    return out


def compare(label: str, ours: np.ndarray, ref: np.ndarray, eps: float) -> None:
    iu = np.triu_indices(len(ours), 1)
    diff = ours[iu] - ref[iu]  # < 0: ours lower = better
    better, worse = diff < -eps, diff > eps
    print(f"    {label}: {len(diff)} pairs")
    if better.any():
        print(
            f"      degzoo better on {better.sum():3d} pairs by mean {-diff[better].mean():.4f}, "
            f"max {-diff[better].min():.4f} rad"
        )
    else:
        print("      degzoo better on   0 pairs")
    print(f"      equal (|diff| <= {eps:g}) on {(~better & ~worse).sum():3d} pairs")
    if worse.any():
        print(
            f"      reference better on {worse.sum():3d} pairs by mean {diff[worse].mean():.4f}, "
            f"max {diff[worse].max():.4f} rad"
        )
    else:
        print("      reference better on   0 pairs")
    print(f"      mean distance: degzoo {ours[iu].mean():.4f}, reference {ref[iu].mean():.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--networks", type=int, default=16)
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--inputs", type=int, default=3)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--gain", type=float, default=1.4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-delays", type=int, default=10)
    p.add_argument("--rank", type=int, default=50)
    p.add_argument("--iters", type=int, default=1000, help="reference Adam iterations")
    p.add_argument("--lr", type=float, default=0.01, help="reference Adam learning rate")
    p.add_argument("--ref-seed", type=int, default=0)
    p.add_argument("--n-starts", type=int, default=None, help="degzoo starts per pair")
    p.add_argument(
        "--keep",
        nargs="+",
        default=["default"],
        help="degzoo starts run to convergence after screening; several values: one run each",
    )
    p.add_argument("--dtype", default=None, choices=["float32", "float64"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads for degzoo")
    p.add_argument(
        "--ref-threads",
        type=int,
        default=1,
        help="torch threads for the reference (1: its fastest here, its ops are tiny)",
    )
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--eps", type=float, default=1e-4, help="distances closer than this are equal")
    args = p.parse_args()

    from degzoo.metrics.dsa import fit_dmd_operators, pairwise_dsa

    torch.set_num_threads(args.threads)
    base = {"n_starts": args.n_starts, "dtype": args.dtype, "device": args.device}
    base = {k: v for k, v in base.items() if v is not None}
    configs = []
    for keep in args.keep:
        solver = dict(base)
        if keep != "default":
            solver["keep"] = int(keep)
        configs.append(solver)
    e = args.networks
    n_pairs = e * (e - 1) // 2
    print(
        f"{e} tanh RNNs, H={args.units}, {args.trials} trials x {args.steps} steps; "
        f"n_delays={args.n_delays}, rank={args.rank}, angular score; {n_pairs} pairs; "
        f"torch threads: degzoo {args.threads}, reference {args.ref_threads}; "
        f"reference Adam {args.iters} iterations x 2, lr {args.lr}"
    )
    trajs = trajectories(args)

    clock = Clock()
    ops = fit_dmd_operators(trajs, args.n_delays, args.rank)
    t_dmd = clock.lap()
    print(f"degzoo DMD fits:     {t_dmd}")
    ours = []
    for solver in configs:
        clock = Clock()
        dist = pairwise_dsa(ops, "angular", **solver)
        lap = clock.lap()
        ours.append((solver, dist, lap))
        print(f"degzoo all pairs:    {lap}   solver {solver or 'defaults'}")
    if args.skip_reference:
        return

    from DSA import DSA as ReferenceDSA

    torch.set_num_threads(args.ref_threads)
    torch.manual_seed(args.ref_seed)
    ref = ReferenceDSA(
        [x.astype(np.float64) for x in trajs],
        n_delays=args.n_delays,
        rank=args.rank,
        score_method="angular",
        iters=args.iters,
        lr=args.lr,
    )
    clock = Clock()
    ref.fit_dmds()
    r_dmd = clock.lap()
    ref_ops = np.stack([d.A_v.detach().cpu().numpy().astype(np.float64) for d in ref.dmds[0]])
    ref_dist = np.asarray(ref.score(), dtype=np.float64)
    r_pairs = clock.lap()
    torch.set_num_threads(args.threads)
    print(f"reference DMD fits:  {r_dmd}")
    print(f"reference all pairs: {r_pairs}")
    print(f"speed-up DMD fits: wall {r_dmd.wall / t_dmd.wall:.1f}x, cpu {r_dmd.cpu / t_dmd.cpu:.1f}x")

    exact = exact_dmd(trajs[0], args.n_delays, args.rank)
    print(
        "DMD spectrum of network 0 against a float64 SVD of the reference's definition: "
        f"degzoo {spectrum_error(ops[0], exact):.1e}, reference "
        f"{spectrum_error(ref_ops[0], exact):.1e} (max relative eigenvalue error)"
    )
    worst = max(spectrum_error(a, b) for a, b in zip(ops, ref_ops, strict=True))
    print(f"DMD spectra, degzoo vs reference, all networks: max relative difference {worst:.1e}")

    for solver, dist, lap in ours:
        print(f"degzoo solver {solver or 'defaults'}:")
        print(
            f"  speed-up all pairs: wall {r_pairs.wall / lap.wall:.1f}x, cpu "
            f"{r_pairs.cpu / lap.cpu:.1f}x (per pair {lap.wall / n_pairs:.3f} s vs "
            f"{r_pairs.wall / n_pairs:.3f} s); DMD + pairs: wall "
            f"{(r_dmd.wall + r_pairs.wall) / (t_dmd.wall + lap.wall):.1f}x"
        )
        print("  optimum quality (angular distance, lower is better):")
        compare("each on its own DMD operators", dist, ref_dist, args.eps)
        clock = Clock()
        on_ref = pairwise_dsa(ref_ops, "angular", **solver)
        compare(f"degzoo's solver on the reference's operators ({clock.lap()})", on_ref, ref_dist, args.eps)


class Clock:
    """Wall and process CPU time since the last lap (CPU time is less sensitive to other load)."""

    class Lap:
        def __init__(self, wall: float, cpu: float) -> None:
            self.wall, self.cpu = wall, cpu

        def __str__(self) -> str:
            return f"{self.wall:8.2f} s wall ({self.cpu:8.2f} s cpu)"

    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self) -> Clock.Lap:
        wall, cpu = time.perf_counter(), time.process_time()
        out = Clock.Lap(wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu
        return out


def exact_dmd(x: np.ndarray, n_delays: int, rank: int) -> np.ndarray:
    """The reference's HAVOK operator (``DMD.A_v``, lamb=1e-8) by a float64 numpy SVD."""
    k, t, h = x.shape
    t_eff = t - n_delays + 1
    hankel = np.concatenate([x[:, n_delays - 1 - d : n_delays - 1 - d + t_eff] for d in range(n_delays)], -1)
    u, _, _ = np.linalg.svd(hankel.reshape(-1, n_delays * h), full_matrices=False)
    v = u[:, :rank].reshape(k, t_eff, rank)  # the time-side singular vectors
    vm, vp = v[:, :-1].reshape(-1, rank), v[:, 1:].reshape(-1, rank)
    return np.linalg.solve(vm.T @ vm + 1e-8 * np.eye(rank), vm.T @ vp).T


def spectrum_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference of the eigenvalues of ``a`` and ``b`` after optimal matching."""
    from scipy.optimize import linear_sum_assignment

    la, lb = np.linalg.eigvals(a), np.linalg.eigvals(b)
    cost = np.abs(la[:, None] - lb[None, :])
    r, c = linear_sum_assignment(cost)
    return float((cost[r, c] / np.abs(lb[c])).max())


if __name__ == "__main__":
    main()
