"""E recurrent networks run as one batched computation (``[E, H, H]`` recurrent weights)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

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
    buffers; ``inputs`` receive no gradient.

    ``workspace`` (a dict the caller keeps, initially empty) lets repeated calls reuse the two large
    buffers instead of allocating, and page-faulting in, some 50 MB each per step. Only for a caller
    that finishes one call's backward before the next call and keeps none of its outputs (the
    trainer); a buffer overwritten too early makes autograd raise, never a silent wrong gradient.
    """
    inputs = _member_inputs(inputs, params["W_in"], "forward_bptt")
    tau = arch.tau if arch.kind == "mup" else None
    outputs, rates = _BPTT.apply(inputs, params["W_hh"], params["W_in"], params["b"], params["W_out"],
                                 params["b_out"], tau, workspace)
    return outputs.transpose(1, 2), rates.transpose(1, 2)


class _BPTT(torch.autograd.Function):
    """All E networks over T steps; returns outputs ``[E, T, B, O]`` and rates ``[E, T, B, H]``.

    Forward keeps everything backward needs in one buffer ``z [E, T+1, B, H+I+1]`` whose row s is
    ``[r_{s-1}, x_s, 1]`` (r_{-1} = 0), so each step is one ``bmm`` of that row against
    ``[W_hh | W_in | b]`` plus a tanh written into the next row. Backward keeps
    ``g [E, T+1, B, O+H]`` with row s = ``[∂L/∂y_{s-1}, ∂L/∂a_s]`` (a: pre-activation; under µP
    the leaky state h), one ``bmm`` against ``[W_out; W_hh]`` plus the fused tanh derivative per
    step, and then every weight gradient at once from one ``bmm`` of g against z.
    """

    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, W_hh: torch.Tensor, W_in: torch.Tensor, b: torch.Tensor,
                W_out: torch.Tensor, b_out: torch.Tensor, tau: float | None,
                workspace: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, ...]:
        E, B, T, I = inputs.shape
        H, O = W_hh.shape[-1], W_out.shape[1]
        z, fresh = _buffer(workspace, "z", (E, T + 1, B, H + I + 1), W_hh)
        if fresh:  # the parts no step writes (a reused buffer still holds them)
            z[:, 0, :, :H] = 0.0
            z[:, T, :, H:H + I] = 0.0
            z[..., H + I] = 1.0
        z[:, :T, :, H:H + I] = inputs.transpose(1, 2)
        w_t = torch.cat([W_hh, W_in, b[..., None]], -1).transpose(1, 2)
        h = W_hh.new_zeros(E, B, H)
        rows, rates = z.unbind(1), z[..., :H].unbind(1)  # per-step views, made in one call each
        for t in range(T):
            if tau is None:
                torch.bmm(rows[t], w_t, out=h)
            else:  # h_t = (1-τ) h_{t-1} + τ (W_hh r_{t-1} + W_in x_t + b)
                h.baddbmm_(rows[t], w_t, beta=1 - tau, alpha=tau)
            torch.tanh(h, out=rates[t + 1])
        readout = torch.cat([W_out, W_out.new_zeros(E, O, I), b_out[..., None]], -1)
        outputs = torch.bmm(z[:, 1:].reshape(E, T * B, -1), readout.transpose(1, 2))
        ctx.save_for_backward(z, W_hh, W_out)
        ctx.tau, ctx.n_inputs, ctx.workspace = tau, I, workspace
        ctx.set_materialize_grads(False)
        return outputs.view(E, T, B, O), z[:, 1:, :, :H]

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor | None,
                 grad_rates: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        z, W_hh, W_out = ctx.saved_tensors
        tau, I = ctx.tau, ctx.n_inputs
        E, T1, B, _ = z.shape
        T, H, O = T1 - 1, W_hh.shape[-1], W_out.shape[1]
        g, fresh = _buffer(ctx.workspace, "g", (E, T1, B, O + H), z)
        if fresh:
            g[:, 0, :, :O] = 0.0
            g[:, T, :, O:] = 0.0
        if grad_out is None:
            g[:, 1:, :, :O] = 0.0
        else:
            g[:, 1:, :, :O] = grad_out
        back = torch.cat([W_out, W_hh if tau is None else tau * W_hh], 1)
        upstream = z.new_empty(E, B, H)
        rows, g_h, rates = g.unbind(1), g[..., O:].unbind(1), z[..., :H].unbind(1)
        for t in range(T - 1, -1, -1):
            # ∂L/∂r_t = ∂L/∂y_t W_out + ∂L/∂a_{t+1} W_hh (τ W_hh under µP) [+ ∂L/∂r_t given directly]
            if grad_rates is None:
                torch.bmm(rows[t + 1], back, out=upstream)
            else:
                torch.baddbmm(grad_rates[:, t], rows[t + 1], back, out=upstream)
            torch.ops.aten.tanh_backward.grad_input(upstream, rates[t + 1], grad_input=g_h[t])
            if tau is not None:
                g_h[t].add_(g_h[t + 1], alpha=1 - tau)
        # rows: [W_out | -- | b_out] over [W_hh | W_in | b]; columns: what z holds
        grads = torch.bmm(g.view(E, T1 * B, O + H).transpose(1, 2), z.view(E, T1 * B, -1))
        rec = grads[:, O:] if tau is None else tau * grads[:, O:]
        return (None, rec[..., :H], rec[..., H:H + I], rec[..., H + I], grads[:, :O, :H],
                grads[:, :O, H + I], None, None)


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
