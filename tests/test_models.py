import numpy as np
import pytest
import torch

from degzoo.errors import InvalidParameterError
from degzoo.models import (
    Architecture,
    effective,
    forward,
    forward_bptt,
    from_torch,
    init_params,
    simulate,
    to_torch,
)
from degzoo.models import rnn as rnn_module


def _numpy_reference(p, x, arch):
    """The model equations written out with numpy, one member, one step at a time."""
    h = np.zeros((x.shape[0], arch.hidden))
    ys, hs = [], []
    for t in range(x.shape[1]):
        if arch.kind == "vanilla":
            h = np.tanh(h @ p["W_hh"].T + x[:, t] @ p["W_in"].T + p["b"])
            r = h
        else:
            h = (1 - arch.tau) * h + arch.tau * (np.tanh(h) @ p["W_hh"].T + x[:, t] @ p["W_in"].T + p["b"])
            r = np.tanh(h)
        hs.append(r)
        ys.append(r @ p["W_out"].T + p["b_out"])
    return np.stack(ys, 1), np.stack(hs, 1)


@pytest.mark.parametrize("kind", ["vanilla", "mup"])
def test_batched_forward_matches_equations(kind, rng):
    arch = Architecture(n_inputs=3, n_outputs=2, hidden=8, kind=kind, gamma=2.0)
    raw = init_params(arch, [1, 2, 3], dtype=torch.float64)
    params = {k: v.numpy() for k, v in effective(raw, arch).items()}
    x = rng.standard_normal((5, 12, 3))
    out, rates = simulate(params, x, arch)
    for e in range(3):
        ref_y, ref_h = _numpy_reference({k: v[e] for k, v in params.items()}, x, arch)
        np.testing.assert_allclose(out[e], ref_y, atol=1e-12)
        np.testing.assert_allclose(rates[e], ref_h, atol=1e-12)


def test_init_depends_only_on_member_seed():
    arch = Architecture(2, 2, hidden=16)
    a = init_params(arch, [5, 6, 7])
    b = init_params(arch, [7, 9])
    torch.testing.assert_close(a["W_hh"][2], b["W_hh"][0], rtol=0, atol=0)
    assert not torch.equal(a["W_hh"][0], a["W_hh"][1])
    bound = 1 / np.sqrt(16)
    assert float(a["W_hh"].abs().max()) <= bound


def test_mup_effective_scales():
    arch = Architecture(2, 2, hidden=64, kind="mup", gamma=4.0)
    eff = effective(init_params(arch, range(8), dtype=torch.float64), arch)
    # effective recurrent weights start with variance 1/H; the readout shrinks with gamma·H
    assert float(eff["W_hh"].var()) == pytest.approx(1 / 64, rel=0.1)
    assert float(eff["W_out"].std()) == pytest.approx(1 / (4.0 * 64), rel=0.2)
    assert arch.lr_scale == 4.0


def test_torch_round_trip_exact(rng):
    arch = Architecture(n_inputs=3, n_outputs=2, hidden=10)
    params = {k: v[1].numpy() for k, v in effective(init_params(arch, [0, 1]), arch).items()}
    model = to_torch(params, arch)
    x = rng.standard_normal((4, 15, 3)).astype(np.float32)
    y_torch, h_torch = model(torch.as_tensor(x))
    y, h = simulate({k: v[None] for k, v in params.items()}, x, arch)
    np.testing.assert_allclose(y_torch.detach().numpy(), y[0], atol=1e-6)
    np.testing.assert_allclose(h_torch.detach().numpy(), h[0], atol=1e-6)
    back, arch_back = from_torch(model)
    assert arch_back == arch
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])


def test_to_torch_refuses_mup():
    arch = Architecture(1, 1, hidden=4, kind="mup")
    params = {k: v[0].numpy() for k, v in effective(init_params(arch, [0]), arch).items()}
    with pytest.raises(InvalidParameterError, match="leaky rate network"):
        to_torch(params, arch)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden": 0}, "hidden"),
        ({"kind": "lstm"}, "kind"),
        ({"tau": 0.0}, "tau"),
        ({"gamma": -1.0}, "gamma"),
    ],
)
def test_bad_architecture(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        Architecture(n_inputs=1, n_outputs=1, **kwargs)


def test_forward_rejects_wrong_input_shape():
    arch = Architecture(3, 1, hidden=4)
    params = effective(init_params(arch, [0, 1]), arch)
    with pytest.raises(InvalidParameterError, match="inputs must be"):
        forward(params, torch.zeros(2, 5, 7, 2), arch)


@pytest.mark.parametrize("kind", ["vanilla", "mup"])
@pytest.mark.parametrize("through_rates", [False, True])
@pytest.mark.parametrize("per_step", [True, False], ids=["cpu-streaming", "all-at-once"])
@pytest.mark.parametrize("time_major_inputs", [False, True])
def test_bptt_equals_autograd(kind, through_rates, per_step, time_major_inputs, monkeypatch):
    """The hand-written backward gives autograd's gradients (and forward's values) in float64.

    Both ways of moving inputs and gradients (per step on a CPU, all at once on a GPU), and both
    input layouts (plain ``[E, B, T, I]`` and the trainer's views of ``[T, E, I, B]`` memory).
    """
    monkeypatch.setattr(rnn_module, "_stream_per_step", lambda like: per_step)
    arch = Architecture(n_inputs=3, n_outputs=2, hidden=7, kind=kind, gamma=2.0, tau=0.3)
    raw = init_params(arch, [1, 2, 3], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 11, 3, generator=gen, dtype=torch.float64)
    if time_major_inputs:
        x = x.permute(2, 0, 3, 1).contiguous().permute(1, 3, 0, 2)
    y = torch.randn(3, 5, 11, 2, generator=gen, dtype=torch.float64)
    results = []
    for fn in (forward, forward_bptt):
        params = {k: v.clone().requires_grad_(True) for k, v in raw.items()}
        out, rates = fn(effective(params, arch), x, arch)
        loss = ((out - y) ** 2).sum() + ((rates**3).sum() if through_rates else 0.0)
        loss.backward()
        results.append((out.detach(), rates.detach(), {k: p.grad for k, p in params.items()}))
    (out_ref, rates_ref, grads_ref), (out, rates, grads) = results
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(rates, rates_ref, rtol=0, atol=1e-12)
    for k, g_ref in grads_ref.items():
        assert float(g_ref.abs().max()) > 1e-3, k  # a real gradient, not zeros on both sides
        assert float((grads[k] - g_ref).abs().max() / g_ref.abs().max()) < 1e-10, k


def test_bptt_workspace_reuse_is_guarded():
    """Reusing the buffers before the previous backward raises instead of corrupting gradients."""
    arch = Architecture(n_inputs=2, n_outputs=1, hidden=4)
    params = {k: v.requires_grad_(True) for k, v in init_params(arch, [0, 1]).items()}
    x = torch.ones(2, 3, 5, 2)
    workspace = {}
    first, _ = forward_bptt(params, x, arch, workspace=workspace)
    forward_bptt(params, 2 * x, arch, workspace=workspace)
    with pytest.raises(RuntimeError, match="inplace"):
        first.sum().backward()
    out, _ = forward_bptt(params, x, arch, workspace=workspace)
    out.sum().backward()  # in turn, as the trainer uses it: fine
    assert set(workspace) == {"z", "a", "g"}
