"""Can a trained match hand another solution the Jacobian spectra along a network's trajectories?

The known gap ``shortcut_jacobian_spectrum`` (tests/test_shortcuts.py) reads the sorted moduli of
the eigenvalues of the step Jacobian diag(1 − h²) W_hh at states the probe trajectories visit (every
97th), averaged. This script tries the route that closed the Lyapunov, fixed-point and DMD gaps
(:mod:`degzoo.benchmark.trained_matches`): member B fine-tuned on its task while a second loss pulls
a Jacobian statistic onto member A's, in two variants:

- ``average``: the sorted moduli averaged over evenly spaced visited states (the statistic itself);
- ``per_state``: the sorted moduli at every visited state (random states each step), so that any
  subsample a reader takes is matched too.

For each it prints the loss's mismatch (last / first), then the distances from A of its 1 % near-twin,
of B and of the match, read by the shortcut at stride 97 and stride 1 and by DSA. A ground truth
needs the match nearer A than the near-twin for the reader (calibration's criterion) while DSA keeps
it a different solution.

    python benchmarks/jacobian_match.py --condition flipflop-bits3 --pairs 2:3 --steps 400,1200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import degzoo.benchmark.trained_matches as tm
from degzoo.benchmark.twins import from_params, member, perturb
from degzoo.metrics import get as get_metric
from degzoo.models.rnn import forward
from degzoo.zoo import open_release


def jacobian_moduli(p: dict[str, torch.Tensor], probe: torch.Tensor, arch, states: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """``[S, H]``: sorted |eigenvalues| (descending) of the step Jacobian at the visited states
    (all of them, flattened over trials and steps, or the indices ``states``); vanilla networks."""
    rates = forward({k: v[None] for k, v in p.items()}, probe, arch)[1][0]
    h = rates.reshape(-1, rates.shape[-1])
    if states is not None:
        h = h[states]
    J = (1 - h * h)[:, :, None] * p["W_hh"]
    return torch.sort(torch.linalg.eigvals(J).abs(), dim=1, descending=True).values


class AverageGap:
    """RMS difference of the sorted moduli averaged over ``n_states`` evenly spaced visited states."""

    n_states = 256

    def __init__(self, target: dict[str, torch.Tensor], arch, probe: torch.Tensor) -> None:
        self.arch, self.probe = arch, probe
        total = probe.shape[0] * probe.shape[1]
        self.states = torch.as_tensor(np.round(np.linspace(0, total - 1, self.n_states)).astype(np.int64))
        with torch.no_grad():
            self.target = self.embed(target)

    def embed(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        return jacobian_moduli(p, self.probe, self.arch, self.states).mean(0)

    def __call__(self, p: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float | None]:
        sq = ((self.embed(p) - self.target) ** 2).mean()
        return sq, float(sq.detach()) ** 0.5


class PerStateGap:
    """RMS difference of the sorted moduli state by state: the loss on ``batch`` random visited
    states per step, measured on all of them every ``every`` steps."""

    batch, every = 256, 20

    def __init__(self, target: dict[str, torch.Tensor], arch, probe: torch.Tensor) -> None:
        self.arch, self.probe = arch, probe
        with torch.no_grad():
            self.target = jacobian_moduli(target, probe, arch)
        self.rng = np.random.default_rng(0)

    def __call__(self, p: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float | None]:
        idx = torch.as_tensor(self.rng.choice(len(self.target), self.batch, replace=False))
        sq = ((jacobian_moduli(p, self.probe, self.arch, idx) - self.target[idx]) ** 2).mean()
        measured = None
        if step % self.every == 0:
            with torch.no_grad():
                every_state = jacobian_moduli(p, self.probe, self.arch)
                measured = float(((every_state - self.target) ** 2).mean()) ** 0.5
        return sq, measured


def reader(nets, stride: int) -> np.ndarray:
    """The shortcut's distances from network 0: sorted moduli at every ``stride``-th visited state,
    averaged."""
    W = np.asarray(nets.params["W_hh"], np.float64)
    x = np.asarray(nets.trajectories(), np.float64)
    x = x.reshape(len(x), -1, x.shape[-1])[:, ::stride]
    moduli = np.abs(np.linalg.eigvals((1 - x**2)[..., None] * W[:, None]))  # [E, S, H]
    emb = np.sort(moduli, axis=2).mean(axis=1)
    return np.linalg.norm(emb - emb[0], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None, help="release name or folder (default: embedded)")
    parser.add_argument("--condition", default="flipflop-bits3")
    parser.add_argument("--pairs", default="2:3", help="TARGET:SOURCE member pairs, comma-separated")
    parser.add_argument("--steps", default="400,1200", help="steps of the average and per-state matches")
    parser.add_argument("--weights", default="100,1000", help="loss weights of the two matches")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ens = open_release(args.release).ensemble(args.condition)
    probe = np.asarray(ens.probe_inputs)
    variants = {"average": AverageGap, "per_state": PerStateGap}
    steps = dict(zip(variants, map(int, args.steps.split(",")), strict=True))
    weights = dict(zip(variants, map(float, args.weights.split(",")), strict=True))
    dsa = get_metric("dsa")
    for pair in args.pairs.split(","):
        t, s = map(int, pair.split(":"))
        a, b = member(ens, t), member(ens, s)
        twin = {k: v[0] for k, v in perturb(a, [0.01], np.random.default_rng(0)).items()}
        for name, gap in variants.items():
            tm._GAPS[name] = gap
            tm.TRAINED_STATISTICS[name] = tm.FineTune(steps=steps[name], lr=1e-3, weight=weights[name])
            start = time.perf_counter()
            c, info = tm.trained_match(b, a, name, ens.architecture, ens.task, probe, seed=t * 1000 + s)
            seconds = time.perf_counter() - start
            nets = from_params(ens, {k: np.stack([a[k], twin[k], b[k], c[k]]) for k in a}, "jacobian-match")
            print(f"{args.condition} A={t} B={s} {name}: {steps[name]} steps, {seconds:.0f} s, mismatch "
                  f"{info['mismatch']:.2e} ({info['mismatch'] / info['mismatch_before']:.1%} of the first), "
                  f"task MSE {info['task_mse']:.1e}")
            for label, d in (("stride 97", reader(nets, 97)), ("stride 1", reader(nets, 1)),
                             ("dsa", np.asarray(dsa.pairwise(nets))[0])):
                print(f"  {label:9s} twin {d[1]:.4f}  B {d[2]:.4f}  match {d[3]:.4f}  "
                      f"(match / twin {d[3] / d[1]:.2f}, match / B {d[3] / d[2]:.2f})")


if __name__ == "__main__":
    main()
