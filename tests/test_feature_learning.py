"""Feature-learning measures: weight change and NTK alignment against known values and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.degeneracy import Estimate
from degzoo.metrics.feature_learning import (
    KernelAlignment,
    WeightChange,
    _ntk_blocks,
    kernel_alignment,
    ntk_grams,
    weight_change,
)
from degzoo.models import PARAM_NAMES, Architecture, effective, forward, init_params
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble

TASK = get_task("flipflop", bits=2, trial_length=20)


def make_ensemble(H=16, kind="vanilla", change=0.0, E=3, gamma=1.0):
    arch = Architecture(TASK.n_inputs, TASK.n_outputs, hidden=H, kind=kind, gamma=gamma)
    raw = init_params(arch, list(range(E)), dtype=torch.float64)
    initial = {k: v.numpy().copy() for k, v in effective(raw, arch).items()}
    rng = np.random.default_rng(0)
    final = {k: v + change * rng.standard_normal(v.shape) for k, v in initial.items()}
    x, y = TASK.sample(6, 0)
    return Ensemble.from_arrays(final, arch, TASK, x, y, initial_params=initial)


def test_weight_change_zero_at_initialisation_and_the_frobenius_norm_otherwise():
    assert np.all(weight_change(make_ensemble(change=0.0)) == 0.0)
    ens = make_ensemble(change=0.1)
    expected = [np.linalg.norm(ens.params["W_hh"][i] - ens.initial_params["W_hh"][i]) for i in range(3)]
    np.testing.assert_allclose(weight_change(ens), expected, rtol=1e-12)
    every = [
        np.sqrt(sum(np.sum((ens.params[k][i] - ens.initial_params[k][i]) ** 2) for k in PARAM_NAMES))
        for i in range(3)
    ]
    np.testing.assert_allclose(weight_change(ens, which="all"), every, rtol=1e-12)
    # Vanilla: raw = effective; µP: the raw recurrent matrix is H × the effective one.
    np.testing.assert_allclose(weight_change(ens, parameters="raw"), expected, rtol=1e-12)
    mup = make_ensemble(kind="mup", change=0.01)
    np.testing.assert_allclose(weight_change(mup, parameters="raw"), 16 * weight_change(mup), rtol=1e-12)
    est = WeightChange().summary(ens, n_boot=200)
    assert isinstance(est, Estimate) and est.low <= est.value <= est.high


def test_kernel_alignment_is_one_at_initialisation_and_below_after_a_change():
    np.testing.assert_allclose(kernel_alignment(make_ensemble(change=0.0), n_trials=2), 1.0, atol=1e-12)
    changed = kernel_alignment(make_ensemble(change=0.2), n_trials=2)
    assert np.all(changed < 0.999) and np.all(changed > 0)
    est = KernelAlignment(n_trials=2).summary(make_ensemble(change=0.2), n_boot=200)
    assert est.low <= est.value <= est.high <= 1


def test_trained_networks_move_and_lose_kernel_alignment(tiny_ensemble):
    assert np.all(weight_change(tiny_ensemble) > 0), (
        "trained weights equal the initial ones: does TrainResult.initial_params share memory "
        "with the trained tensors (numpy() of a CPU tensor is a view)?"
    )
    alignment = kernel_alignment(tiny_ensemble, n_trials=2, time_stride=10)
    assert np.all(alignment < 1 - 1e-6) and np.all(alignment > 0)


def autograd_blocks(params, x, arch, t_idx):
    """Reference: Jacobian rows by plain autograd through ``forward``, one copy per output."""
    xt = torch.as_tensor(x, dtype=torch.float64)
    B, O = xt.shape[0], arch.n_outputs
    bb, tt, oo = (a.ravel() for a in np.meshgrid(np.arange(B), t_idx, np.arange(O), indexing="ij"))
    n, E = bb.size, params["W_hh"].shape[0]
    copies = {k: torch.as_tensor(params[k]).repeat_interleave(n, 0).requires_grad_(True)
              for k in PARAM_NAMES}
    y, _ = forward(copies, xt[torch.as_tensor(bb)][:, None].repeat(E, 1, 1, 1), arch)
    sel = y[torch.arange(E * n), 0, torch.as_tensor(np.tile(tt, E)), torch.as_tensor(np.tile(oo, E))]
    grads = torch.autograd.grad(sel.sum(), [copies[k] for k in PARAM_NAMES])
    return torch.stack([g.reshape(E, n, -1) @ g.reshape(E, n, -1).transpose(1, 2) for g in grads], 1)


@pytest.mark.parametrize("kind", ["vanilla", "mup"])
def test_ntk_matches_autograd(kind):
    ens = make_ensemble(H=8, kind=kind, change=0.1, E=2, gamma=2.0)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in ens.params.items()}
    x = ens.probe_inputs[:3, :12]
    t_idx = np.array([3, 7, 11])
    ours = _ntk_blocks(p, x, ens.architecture, t_idx)
    torch.testing.assert_close(ours, autograd_blocks(p, x, ens.architecture, t_idx), rtol=1e-10, atol=1e-12)


def test_raw_parameterisation_rescales_the_kernel_blocks():
    vanilla = make_ensemble(change=0.1, E=2)
    np.testing.assert_allclose(ntk_grams(vanilla, n_trials=2, parameters="raw"),
                               ntk_grams(vanilla, n_trials=2), rtol=1e-12)
    mup = make_ensemble(kind="mup", change=0.01, E=2)
    assert not np.allclose(ntk_grams(mup, n_trials=2, parameters="raw"), ntk_grams(mup, n_trials=2))


def test_errors_name_the_member_and_what_is_missing():
    ens = make_ensemble(change=0.1)
    ens.params["W_hh"][1, 2, 3] = np.nan
    with pytest.raises(MetricError, match="member 1"):
        weight_change(ens)
    with pytest.raises(MetricError, match=r"kernel_alignment.*member 1"):
        kernel_alignment(ens, n_trials=1)
    no_initial = make_ensemble()
    no_initial._initial = None
    with pytest.raises(InvalidParameterError, match="initial"):
        weight_change(no_initial)
    with pytest.raises(InvalidParameterError, match="which"):
        weight_change(make_ensemble(), which="W_in")
    with pytest.raises(InvalidParameterError, match="time_stride"):
        kernel_alignment(make_ensemble(), time_stride=0)
