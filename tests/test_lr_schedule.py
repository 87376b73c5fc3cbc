"""The per-member learning-rate schedule ("plateau"): torch's ReduceLROnPlateau rule, resumable."""

import numpy as np
import pytest
import torch

from degzoo.errors import InvalidParameterError
from degzoo.models import Architecture
from degzoo.training import TrainSettings, train_ensemble
from degzoo.training.trainer import _plateau


def _settings(**kw):
    base = dict(lr=5e-3, batch_size=8, max_steps=60, steps_per_epoch=5, patience_epochs=1, threshold=0.0)
    base.update(kw)
    return TrainSettings(**base)


def _torch_lrs(losses, lr, factor, patience, min_lr=0.0):
    """The lr after each epoch under torch.optim.lr_scheduler.ReduceLROnPlateau fed ``losses``."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=factor, patience=patience, min_lr=min_lr)
    out = []
    for loss in losses:
        sched.step(float(loss))
        out.append(opt.param_groups[0]["lr"])
    return np.array(out)


def _state(n, lr):
    return {"lr": np.full(n, lr), "plateau_best": np.full(n, np.inf), "plateau_bad": np.zeros(n, np.int64)}


def test_halves_after_patience_epochs_without_improvement_and_not_before():
    settings = _settings(lr_schedule="plateau", lr_patience=3)
    state = _state(2, 1e-2)
    members = np.array([0, 1])
    # member 0 never improves after its first epoch; member 1 improves every epoch
    lrs = []
    for epoch in range(9):
        _plateau(state, settings, members, np.array([1.0, 1.0 - 0.1 * epoch]))
        lrs.append(state["lr"].copy())
    lrs = np.array(lrs)
    # epochs 1-3 are the 3 epochs of patience; the 4th without improvement (epoch 4) halves, and
    # the count restarts: the next cut comes 4 epochs later (epoch 8)
    np.testing.assert_array_equal(lrs[:, 0], [1e-2] * 4 + [5e-3] * 4 + [2.5e-3])
    np.testing.assert_array_equal(lrs[:, 1], [1e-2] * 9)


@pytest.mark.parametrize("patience, factor, min_lr", [(0, 0.5, 0.0), (2, 0.3, 0.0), (1, 0.5, 2e-3)])
def test_matches_torch_reduce_lr_on_plateau(patience, factor, min_lr):
    """Each member's lr follows torch's scheduler fed that member's losses (noisy, with plateaus
    and improvements below the 1e-4 relative threshold)."""
    rng = np.random.default_rng(patience)
    n, epochs = 5, 40
    losses = np.exp(-0.05 * np.arange(epochs))[:, None] * rng.uniform(0.9, 1.1, size=(epochs, n))
    losses[10:20, 2] = losses[9, 2] * (1 - 5e-5)  # improves, but by less than the threshold
    settings = _settings(lr=1e-2, lr_schedule="plateau", lr_patience=patience, lr_factor=factor,
                         min_lr=min_lr)
    state = _state(n, 1e-2)
    got = []
    for epoch in range(epochs):
        _plateau(state, settings, np.arange(n), losses[epoch])
        got.append(state["lr"].copy())
    for e in range(n):
        expected = _torch_lrs(losses[:, e], 1e-2, factor, patience, min_lr)
        np.testing.assert_allclose(np.array(got)[:, e], expected, rtol=1e-12)


def test_training_applies_each_members_schedule(tiny_task):
    """End to end: each member's final lr is what torch's rule gives on its own loss curve, and a
    member whose lr was cut trains differently from the constant-lr run."""
    arch = Architecture(2, 2, hidden=8)
    settings = _settings(lr=3e-2, lr_schedule="plateau", lr_patience=0)
    seeds = [1, 2, 3]
    result = train_ensemble(tiny_task, arch, seeds, settings, progress=False)
    expected = [_torch_lrs(result.loss_curve[e], 3e-2, 0.5, 0)[-1] for e in range(len(seeds))]
    np.testing.assert_allclose(result.lr, expected, rtol=1e-12)
    assert (result.lr < 3e-2).any()
    constant = train_ensemble(tiny_task, arch, seeds, _settings(lr=3e-2), progress=False)
    np.testing.assert_array_equal(constant.lr, [3e-2] * 3)
    cut = np.flatnonzero(result.lr < 3e-2)
    assert not np.array_equal(result.params["W_hh"][cut], constant.params["W_hh"][cut])


def test_default_is_constant_and_unchanged(tiny_task):
    """The default trains bit for bit as a plateau schedule that never fires, and records nothing
    new (so existing recipes' fingerprints and provenance are unchanged)."""
    arch = Architecture(2, 2, hidden=8)
    default = train_ensemble(tiny_task, arch, [1, 2], _settings(), progress=False)
    idle = train_ensemble(tiny_task, arch, [1, 2], _settings(lr_schedule="plateau", lr_patience=100),
                          progress=False)
    for k in default.params:
        np.testing.assert_array_equal(default.params[k], idle.params[k])
    assert not {"lr_schedule", "lr_factor", "lr_patience", "min_lr"} & set(_settings().to_dict())
    plateau = _settings(lr_schedule="plateau", lr_patience=7)
    assert plateau.to_dict()["lr_patience"] == 7
    assert TrainSettings.from_dict(plateau.to_dict()) == plateau


def test_resume_mid_plateau_is_bit_identical(tiny_task, tmp_path):
    arch = Architecture(2, 2, hidden=8)
    seeds = [1, 2, 3]
    settings = _settings(lr=3e-2, max_steps=100, lr_schedule="plateau", lr_patience=1, checkpoint_every=3)
    straight = train_ensemble(tiny_task, arch, seeds, settings, progress=False)
    ckpt = tmp_path / "run.ckpt"

    def interrupt(step):
        if step == 62:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_ensemble(tiny_task, arch, seeds, settings, checkpoint=ckpt, progress=False, callback=interrupt)
    with np.load(ckpt) as saved:
        lr, bad = saved["state/lr"], saved["state/plateau_bad"]
    assert (lr < 3e-2).any() and (bad > 0).any()  # interrupted after a cut, inside a plateau count
    resumed = train_ensemble(tiny_task, arch, seeds, settings, checkpoint=ckpt, progress=False)
    for k in straight.params:
        np.testing.assert_array_equal(resumed.params[k], straight.params[k])
    np.testing.assert_array_equal(resumed.loss_curve, straight.loss_curve)
    np.testing.assert_array_equal(resumed.lr, straight.lr)


@pytest.mark.parametrize("kw, match", [
    ({"lr_schedule": "cosine"}, "lr_schedule must be one of constant, plateau"),
    ({"lr_schedule": "plateau", "lr_factor": 1.5}, "lr_factor must be"),
    ({"lr_schedule": "plateau", "lr_patience": -1}, "lr_patience must be"),
    ({"lr_schedule": "plateau", "min_lr": 1.0}, "min_lr must be"),
    ({"lr_patience": 10}, "only apply to lr_schedule='plateau'"),
])
def test_bad_schedule_settings(kw, match):
    with pytest.raises(InvalidParameterError, match=match):
        TrainSettings(**kw)
