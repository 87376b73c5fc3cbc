"""E recurrent networks run as one batched computation (``[E, H, H]`` recurrent weights)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.models.architecture import PARAM_NAMES, Architecture

Params = dict[str, torch.Tensor]


def init_params(
    arch: Architecture,
    seeds: Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Params:
    """Raw initial parameters of one member per seed, stacked on a leading member axis.

    Each member's draw depends on its own seed only, so a member is the same whether it is trained
    alone or inside any ensemble.
    """
    members = [_init_member(arch, seed, dtype) for seed in seeds]
    return {k: torch.stack([m[k] for m in members]).to(device) for k in PARAM_NAMES}


def _init_member(arch: Architecture, seed: int, dtype: torch.dtype) -> Params:
    gen = torch.Generator().manual_seed(int(seed))
    shapes = arch.shapes
    if arch.kind == "vanilla":
        bound = 1.0 / math.sqrt(arch.hidden)
        return {
            k: (torch.rand(shapes[k], generator=gen, dtype=torch.float64) * 2 - 1).mul_(bound).to(dtype)
            for k in PARAM_NAMES
        }
    raw_std = {"W_in": 1.0, "W_hh": math.sqrt(arch.hidden), "W_out": 1.0}
    return {
        k: (torch.randn(shapes[k], generator=gen, dtype=torch.float64) * raw_std[k]).to(dtype)
        if k in raw_std
        else torch.zeros(shapes[k], dtype=dtype)
        for k in PARAM_NAMES
    }


def effective(raw: Mapping[str, torch.Tensor], arch: Architecture) -> Params:
    """Effective parameters (what the dynamics use and what the zoo stores) from raw ones."""
    mult = arch.multipliers
    return {k: raw[k] * mult[k] if mult[k] != 1.0 else raw[k] for k in PARAM_NAMES}


def raw_from_effective(eff: Mapping[str, torch.Tensor], arch: Architecture) -> Params:
    """Inverse of :func:`effective`, used to resume training from stored weights."""
    mult = arch.multipliers
    return {k: eff[k] / mult[k] if mult[k] != 1.0 else eff[k] for k in PARAM_NAMES}


def forward(
    params: Mapping[str, torch.Tensor], inputs: torch.Tensor, arch: Architecture
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run every member on its inputs.

    ``params`` are effective parameters with a leading member axis E; ``inputs`` is ``[E, B, T, I]``
    (each member its own batch) or ``[B, T, I]`` (shared). Returns outputs ``[E, B, T, O]`` and
    rates ``[E, B, T, H]`` (the hidden activity tanh(·) that metrics compare).
    """
    W_in, W_hh, b = params["W_in"], params["W_hh"], params["b"]
    E = W_hh.shape[0]
    if inputs.dim() == 3:
        inputs = inputs.unsqueeze(0).expand(E, *inputs.shape)
    if inputs.dim() != 4 or inputs.shape[0] != E or inputs.shape[-1] != W_in.shape[-1]:
        raise InvalidParameterError(
            f"forward: inputs must be [E={E}, B, T, I={W_in.shape[-1]}] or [B, T, I], "
            f"got {tuple(inputs.shape)}"
        )
    # Input drive for all steps at once; the recurrence then costs one baddbmm per step.
    drive = torch.einsum("ebti,ehi->ebth", inputs, W_in) + b[:, None, None, :]
    W_hh_t = W_hh.transpose(1, 2)
    E, B, _, H = drive.shape
    h = drive.new_zeros(E, B, H)
    rates = []
    if arch.kind == "vanilla":
        for u_t in drive.unbind(2):
            h = torch.tanh(torch.baddbmm(u_t, h, W_hh_t))
            rates.append(h)
    else:
        tau = arch.tau
        r = torch.tanh(h)
        for u_t in drive.unbind(2):
            h = (1 - tau) * h + tau * torch.baddbmm(u_t, r, W_hh_t)
            r = torch.tanh(h)
            rates.append(r)
    states = torch.stack(rates, dim=2)
    outputs = torch.einsum("ebth,eoh->ebto", states, params["W_out"]) + params["b_out"][:, None, None, :]
    return outputs, states


@torch.no_grad()
def simulate(
    params: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    arch: Architecture,
    *,
    device: str | torch.device = "cpu",
    batch_members: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Numpy in, numpy out: outputs ``[E, B, T, O]`` and rates ``[E, B, T, H]`` of stored networks.

    Runs in the parameters' own precision; the same weights and inputs always give the same
    trajectories, which is why the zoo need not store them.
    """
    E = np.shape(params["W_hh"])[0]
    outs, rates = [], []
    for start in range(0, E, batch_members):
        chunk = {
            k: torch.as_tensor(np.asarray(params[k][start : start + batch_members]), device=device)
            for k in PARAM_NAMES
        }
        x = torch.as_tensor(np.asarray(inputs), device=device, dtype=chunk["W_hh"].dtype)
        if x.dim() == 4:
            x = x[start : start + batch_members]
        y, s = forward(chunk, x, arch)
        outs.append(y.cpu().numpy())
        rates.append(s.cpu().numpy())
    return np.concatenate(outs), np.concatenate(rates)
