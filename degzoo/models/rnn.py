"""E recurrent networks run as one batched computation (``[E, H, H]`` recurrent weights)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.limits import check_budget
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
    inputs = _member_inputs(inputs, W_in, "forward")
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


def _member_inputs(inputs: torch.Tensor, W_in: torch.Tensor, where: str) -> torch.Tensor:
    """``inputs`` as ``[E, B, T, I]`` (a shared ``[B, T, I]`` batch is expanded), or a clear error."""
    E = W_in.shape[0]
    if inputs.dim() == 3:
        inputs = inputs.unsqueeze(0).expand(E, *inputs.shape)
    if inputs.dim() != 4 or inputs.shape[0] != E or inputs.shape[-1] != W_in.shape[-1]:
        raise InvalidParameterError(
            f"{where}: inputs must be [E={E}, B, T, I={W_in.shape[-1]}] or [B, T, I], "
            f"got {tuple(inputs.shape)}"
        )
    return inputs


def forward_bptt(
    params: Mapping[str, torch.Tensor],
    inputs: torch.Tensor,
    arch: Architecture,
    *,
    workspace: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`forward` for training: the same contract and values, with a hand-written backward pass.

    Covers both kinds (vanilla and µP). Autograd through :func:`forward` records several small
    ops per time step and pays their overhead twice; here the whole network is one
    :class:`torch.autograd.Function` (see :class:`_BPTT`) whose gradients equal autograd's up to
    rounding (tested in float64). The returned tensors are transposed views of time-major
    buffers; ``inputs`` receive no gradient. Inputs backed by ``[T, E, I, B]`` memory (as the
    trainer passes them) are read a contiguous block per step.

    ``workspace`` (a dict the caller keeps, initially empty) lets repeated calls reuse the three large
    buffers instead of allocating, and page-faulting in, some 50 MB each per step. Only for a caller
    that finishes one call's backward before the next call and keeps none of its outputs (the
    trainer): a buffer overwritten too early makes autograd raise, never a silent wrong gradient,
    but an output kept past the next call holds that call's values.
    """
    inputs = _member_inputs(inputs, params["W_in"], "forward_bptt")
    tau = arch.tau if arch.kind == "mup" else None
    outputs, rates = _BPTT.apply(inputs, params["W_hh"], params["W_in"], params["b"], params["W_out"],
                                 params["b_out"], tau, workspace)
    return outputs.transpose(1, 2), rates.transpose(1, 2)


class _BPTT(torch.autograd.Function):
    """All E networks over T steps; returns outputs ``[E, T, B, O]`` and rates ``[E, T, B, H]``.

    Buffers are time-major and feature-by-batch, ``[T+1, E, features, B]``: what one step reads
    and writes is one contiguous block, and every row is a whole batch long. (With features last,
    the inputs, targets and outputs are rows 1–5 floats long, and copying or subtracting them cost a
    sixth of the training step in per-row overhead.)

    Forward keeps everything backward needs in ``z [T+1, E, H+I+1, B]`` whose block s is
    ``[r_{s-1}; x_s; 1]`` (r_{-1} = 0): each step is one ``bmm`` of ``[W_hh | W_in | b]`` and, in
    the same call, ``[W_out | 0 | b_out]`` against that block, writing block s of
    ``a [T+1, E, H+O, B]`` = ``[drive_s; y_{s-1}]``; a tanh then writes the next block of z. (A
    readout of all steps at the end is a matmul only O columns wide, which BLAS runs at a few
    GFLOP/s.) Backward keeps ``g [T+1, E, O+H, B]`` with block s = ``[∂L/∂y_{s-1}; ∂L/∂a_s]`` (a:
    pre-activation; under µP the leaky state h): per step one ``bmm`` with ``[W_out; W_hh]ᵀ``,
    the fused tanh derivative, and one ``baddbmm`` that adds block s's share of every weight
    gradient while it is still in cache (on a GPU, see :func:`_stream_per_step`, the inputs,
    output gradients and weight gradients move all at once instead).
    """

    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, W_hh: torch.Tensor, W_in: torch.Tensor, b: torch.Tensor,
                W_out: torch.Tensor, b_out: torch.Tensor, tau: float | None,
                workspace: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, ...]:
        E, B, T, I = inputs.shape
        H, O = W_hh.shape[-1], W_out.shape[1]
        z, fresh = _buffer(workspace, "z", (T + 1, E, H + I + 1, B), W_hh)
        if fresh:  # the parts no step writes (a reused buffer still holds them)
            z[0, :, :H] = 0.0
            z[T, :, H:H + I] = 0.0
            z[:, :, H + I] = 1.0
        a, _ = _buffer(workspace, "a", (T + 1, E, H + O, B), W_hh)
        # µP's drive is scaled by τ here, so that h_s = τ·drive + (1-τ) h_{s-1} is one add per step
        drive = torch.cat([W_hh, W_in, b[..., None]], -1)
        readout = torch.cat([W_out, W_out.new_zeros(E, O, I), b_out[..., None]], -1)
        weights = torch.cat([drive if tau is None else tau * drive, readout], 1)
        x, x_rows, rates, states = inputs.unbind(2), z[:, :, H:H + I], z[:, :, :H], a[:, :, :H]
        per_step = _stream_per_step(z)
        if not per_step:
            x_rows[:T].copy_(inputs.permute(2, 0, 3, 1))
        for t in range(T):
            if per_step:
                x_rows[t].copy_(x[t].transpose(1, 2))
            torch.bmm(weights, z[t], out=a[t])
            if tau is not None and t:
                states[t].add_(states[t - 1], alpha=1 - tau)
            torch.tanh(states[t], out=rates[t + 1])
        torch.bmm(weights, z[T], out=a[T])  # y_{T-1}; its drive rows go unused
        ctx.save_for_backward(z, W_hh, W_out)
        ctx.tau, ctx.n_inputs, ctx.workspace = tau, I, workspace
        ctx.set_materialize_grads(False)
        return a[1:, :, H:].permute(1, 0, 3, 2), z[1:, :, :H].permute(1, 0, 3, 2)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor | None,
                 grad_rates: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        z, W_hh, W_out = ctx.saved_tensors
        tau, I = ctx.tau, ctx.n_inputs
        T1, E, K, B = z.shape
        T, H, O = T1 - 1, W_hh.shape[-1], W_out.shape[1]
        g, fresh = _buffer(ctx.workspace, "g", (T1, E, O + H, B), z)
        if fresh:
            g[0, :, :O] = 0.0
            g[T, :, O:] = 0.0
        if grad_out is None:
            g[1:, :, :O] = 0.0
        back = torch.cat([W_out, W_hh if tau is None else tau * W_hh], 1).transpose(1, 2)
        upstream = z.new_empty(E, H, B)
        g_y, g_h, rates = g[:, :, :O], g[:, :, O:], z[:, :, :H]
        per_step = _stream_per_step(z)
        if grad_out is not None and not per_step:
            g_y[1:].copy_(grad_out.permute(1, 0, 3, 2))
        # rows: [W_out | -- | b_out] over [W_hh | W_in | b]; columns: what z holds
        grads = z.new_zeros(E, O + H, K) if per_step else None
        for t in range(T - 1, -1, -1):
            if per_step:
                if grad_out is not None:
                    g_y[t + 1].copy_(grad_out[:, t].transpose(1, 2))
                grads.baddbmm_(g[t + 1], z[t + 1].transpose(1, 2))
            # ∂L/∂r_t = ∂L/∂y_t W_out + ∂L/∂a_{t+1} W_hh (τ W_hh under µP) [+ ∂L/∂r_t given directly]
            if grad_rates is None:
                torch.bmm(back, g[t + 1], out=upstream)
            else:
                torch.baddbmm(grad_rates[:, t].transpose(1, 2), back, g[t + 1], out=upstream)
            torch.ops.aten.tanh_backward.grad_input(upstream, rates[t + 1], grad_input=g_h[t])
            if tau is not None:
                g_h[t].add_(g_h[t + 1], alpha=1 - tau)
        if per_step:
            grads.baddbmm_(g[0], z[0].transpose(1, 2))
        else:
            grads = torch.einsum("tefb,tekb->efk", g, z)
        rec = grads[:, O:] if tau is None else tau * grads[:, O:]
        return (None, rec[..., :H], rec[..., H:H + I], rec[..., H + I], grads[:, :O, :H],
                grads[:, :O, H + I], None, None)


def _stream_per_step(like: torch.Tensor) -> bool:
    """Whether inputs, output gradients and weight gradients move one step at a time, in the loops.

    On a CPU that keeps each step's block in cache: all at once (bulk copies, the weight gradient
    by one ``einsum``) the training step took 2.2× as long at H = 64 and 128, batch 128 (measured
    2026-12-03). On a GPU it would add two kernel launches per step, so there they move all at once.
    """
    return like.device.type == "cpu"


def _buffer(workspace: dict[str, torch.Tensor] | None, name: str, shape: tuple[int, ...],
            like: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A tensor of ``shape`` kept in ``workspace`` for the next call, and whether it is new.

    A reused buffer holds what the previous call left in it.
    """
    buf = None if workspace is None else workspace.get(name)
    if buf is not None and buf.shape == shape and buf.dtype == like.dtype and buf.device == like.device:
        return buf, False
    buf = like.new_empty(shape)
    if workspace is not None:
        workspace[name] = buf
    return buf, True


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
    B, T = np.shape(inputs)[-3:-1] if np.ndim(inputs) >= 3 else (0, 0)  # (forward refuses other shapes)
    itemsize = np.asarray(params["W_hh"]).dtype.itemsize
    # outputs and rates, kept twice (torch's and numpy's copies), plus forward's per-step states
    check_budget(f"simulating {E} networks of {arch.hidden} units on {B} trials × {T} steps",
                 float(E) * B * T * (arch.hidden + arch.n_outputs) * itemsize * 4,
                 "the number of networks or trials")
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
