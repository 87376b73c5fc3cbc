import dataclasses
import json
import os
import signal

import numpy as np
import pytest
import torch

import degzoo.training.trainer as trainer_module
from degzoo.errors import InvalidParameterError
from degzoo.models import Architecture, forward
from degzoo.tasks import get_task
from degzoo.training import (
    L1,
    AuxiliaryOutput,
    InitGain,
    LowRank,
    MuP,
    NuclearNorm,
    TrainSettings,
    Width,
    control_from_dict,
    get_control,
    train_ensemble,
)
from degzoo.training.controls import nearest_low_rank


def _settings(**kw):
    base = dict(lr=5e-3, batch_size=8, max_steps=40, steps_per_epoch=10, patience_epochs=1)
    base.update(kw)
    return TrainSettings(**base)


def test_batched_equals_separate_in_float64(tiny_task):
    arch = Architecture(2, 2, hidden=12)
    settings = _settings(dtype="float64", max_steps=30)
    seeds = [3, 4, 5]
    together = train_ensemble(tiny_task, arch, seeds, settings, progress=False)
    for e, seed in enumerate(seeds):
        alone = train_ensemble(tiny_task, arch, [seed], settings, progress=False)
        for k in together.params:
            np.testing.assert_allclose(together.params[k][e], alone.params[k][0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(together.loss_curve[e], alone.loss_curve[0], atol=1e-10)


def test_training_reduces_loss_and_records(tiny_result):
    curve = tiny_result.loss_curve
    assert curve.shape == (4, 3)
    assert np.all(curve[:, -1] < curve[:, 0])
    assert list(tiny_result.seeds) == [11, 12, 13, 14]
    assert set(tiny_result.status) <= {"converged", "not_converged"}


def test_same_seed_same_result(tiny_task):
    arch = Architecture(2, 2, hidden=8)
    a = train_ensemble(tiny_task, arch, [1, 2], _settings(max_steps=20), progress=False)
    b = train_ensemble(tiny_task, arch, [1, 2], _settings(max_steps=20), progress=False)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


@pytest.mark.parametrize("kind", ["vanilla", "mup"])
def test_same_seed_same_result_with_controls(tiny_task, kind):
    """Bit-identical repeat with every penalty, clipping and (for mup) the µP parameterisation."""
    arch = Architecture(2, 2, hidden=8, kind=kind)
    controls = [L1(weight=1e-3), NuclearNorm(weight=1e-3)]
    settings = _settings(max_steps=20, grad_clip=0.5)
    a = train_ensemble(tiny_task, arch, [1, 2], settings, controls, progress=False)
    b = train_ensemble(tiny_task, arch, [1, 2], settings, controls, progress=False)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    np.testing.assert_array_equal(a.loss_curve, b.loss_curve)


@pytest.mark.parametrize("kind, threshold", [("vanilla", 0.98), ("mup", 0.97)])
def test_fast_training_is_the_autograd_training(tiny_task, monkeypatch, kind, threshold):
    """The trainer's hand-written BPTT trains exactly as autograd through ``forward`` (float64):
    with penalties, clipping, and a member that converges early and is masked out."""
    arch = Architecture(2, 2, hidden=8, kind=kind)
    # thresholds picked from these runs' loss curves so that members converge at different epochs
    settings = _settings(dtype="float64", max_steps=30, grad_clip=0.5, threshold=threshold, patience_epochs=0)
    args = (tiny_task, arch, [1, 2, 3], settings, [L1(weight=1e-3), NuclearNorm(weight=1e-3)])
    fast = train_ensemble(*args, progress=False)
    monkeypatch.setattr(trainer_module, "forward_bptt", lambda p, x, a, workspace: forward(p, x, a))
    reference = train_ensemble(*args, progress=False)
    assert len(set(fast.steps)) > 1  # masking happened: members stopped at different steps
    np.testing.assert_array_equal(fast.steps, reference.steps)
    for k in fast.params:
        np.testing.assert_allclose(fast.params[k], reference.params[k], rtol=0, atol=1e-9, err_msg=k)
    np.testing.assert_allclose(fast.loss_curve, reference.loss_curve, rtol=1e-9)


def test_converged_member_stops_updating(tiny_task):
    arch = Architecture(2, 2, hidden=8)
    # an easy threshold: every member converges after the first epoch plus one epoch of patience
    result = train_ensemble(tiny_task, arch, [1, 2], _settings(threshold=10.0), progress=False)
    assert list(result.status) == ["converged", "converged"]
    assert list(result.reached_step) == [10, 10]
    assert list(result.steps) == [20, 20]
    assert np.isnan(result.loss_curve[:, 2:]).all()


def test_diverging_member_is_stopped_and_recorded(tiny_task):
    arch = Architecture(2, 2, hidden=8)

    @dataclasses.dataclass(frozen=True)
    class Explode(L1):
        name = "explode"

        def penalty(self, params):
            # NaN for members whose W_hh[0, 0] is clearly positive: seed 2 (0.31), not seed 3 (-0.27)
            w = params["W_hh"][:, 0, 0]
            return torch.where(w > 0.2, torch.full_like(w, float("nan")), torch.zeros_like(w))

    result = train_ensemble(tiny_task, arch, [2, 3], _settings(), [Explode()], progress=False)
    assert list(result.status) == ["diverged", "not_converged"]
    assert result.steps[0] == 0 and result.steps[1] == 40
    assert np.isfinite(result.params["W_hh"]).all()


@pytest.mark.parametrize("controls", [(), (InitGain(2.0), LowRank(2))], ids=["plain", "gain-lowrank"])
def test_interrupt_and_resume_gives_same_result(tiny_task, tmp_path, controls):
    arch = Architecture(2, 2, hidden=8)
    settings = _settings(checkpoint_every=7)
    straight = train_ensemble(tiny_task, arch, [1, 2, 3], settings, controls, progress=False)
    ckpt = tmp_path / "run.ckpt"

    def interrupt(step):
        if step == 17:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_ensemble(
            tiny_task, arch, [1, 2, 3], settings, controls, checkpoint=ckpt, progress=False,
            callback=interrupt,
        )
    assert ckpt.exists()
    with np.load(ckpt, allow_pickle=False) as data:
        seconds_before_stop = json.loads(str(data["meta"]))["seconds"]
    resumed = train_ensemble(tiny_task, arch, [1, 2, 3], settings, controls, checkpoint=ckpt, progress=False)
    assert 0 < seconds_before_stop < resumed.train_seconds  # the stopped run's time is counted too
    for k in straight.params:
        np.testing.assert_array_equal(resumed.params[k], straight.params[k])
    np.testing.assert_array_equal(resumed.loss_curve, straight.loss_curve)
    with pytest.raises(InvalidParameterError, match="different training run"):
        train_ensemble(tiny_task, arch, [1, 2, 4], settings, checkpoint=ckpt, progress=False)


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, whatever this process inherited: pytest started in the
    background (``cmd &``, ``nohup``) runs with SIGINT ignored, and a Ctrl-C would never arrive."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_sigint_inside_a_step_resumes_exactly(tiny_task, tmp_path, ctrl_c_raises):
    """A real Ctrl-C that lands while members' batches are being drawn is taken at the step's end.

    Interrupts: mid-step (twice), and two in one step, which stops at once and keeps the last
    periodic checkpoint. Every resume continues bit-for-bit the uninterrupted run.
    """
    arch = Architecture(2, 2, hidden=8)
    seeds = [1, 2, 3]
    settings = _settings(checkpoint_every=4)
    straight = train_ensemble(tiny_task, arch, seeds, settings, progress=False)
    calls, kill_at = [0], set()

    @dataclasses.dataclass(frozen=True)
    class SigintInSample(type(tiny_task)):  # same name and fields: the same run to the checkpoint
        def sample(self, n, rng):
            calls[0] += 1
            if calls[0] in kill_at:
                os.kill(os.getpid(), signal.SIGINT)
            return super().sample(n, rng)

    fields = {f.name: getattr(tiny_task, f.name) for f in dataclasses.fields(tiny_task)}
    ckpt = tmp_path / "run.ckpt"
    handler = signal.getsignal(signal.SIGINT)
    # 3 members draw per step, so draw 17 is the 2nd member's in step 5 (from 0) of that run
    for kills, stopped_at in (({17}, 6), ({20}, 13), ({8, 9}, 13)):
        calls[0], kill_at = 0, kills
        with pytest.raises(KeyboardInterrupt):
            train_ensemble(SigintInSample(**fields), arch, seeds, settings, checkpoint=ckpt, progress=False)
        assert signal.getsignal(signal.SIGINT) is handler
        with np.load(ckpt) as saved:
            assert json.loads(str(saved["meta"]))["step"] == stopped_at
    resumed = train_ensemble(tiny_task, arch, seeds, settings, checkpoint=ckpt, progress=False)
    for k in straight.params:
        np.testing.assert_array_equal(resumed.params[k], straight.params[k])
    np.testing.assert_array_equal(resumed.loss_curve, straight.loss_curve)


def test_controls_configure_and_penalise():
    task = get_task("delayed_discrimination")
    arch = Architecture(task.n_inputs, task.n_outputs, hidden=8)
    controls = [Width(16), MuP(gamma=2.0), AuxiliaryOutput()]
    result = train_ensemble(task, arch, [0], _settings(max_steps=2), controls, progress=False)
    assert result.architecture.hidden == 16 and result.architecture.kind == "mup"
    assert result.task.aux and result.architecture.n_outputs == result.task.n_outputs > task.n_outputs
    w = {"W_hh": torch.eye(3).expand(2, 3, 3), "W_in": torch.ones(2, 3, 1), "W_out": torch.zeros(2, 1, 3)}
    torch.testing.assert_close(NuclearNorm(0.5).penalty(w), torch.tensor([1.5, 1.5]))
    torch.testing.assert_close(L1(0.1).penalty(w), torch.tensor([0.6, 0.6]))


def test_l1_control_shrinks_weights(tiny_task):
    arch = Architecture(2, 2, hidden=12)
    plain = train_ensemble(tiny_task, arch, [1, 2], _settings(), progress=False)
    sparse = train_ensemble(tiny_task, arch, [1, 2], _settings(), [L1(weight=1e-2)], progress=False)
    assert np.abs(sparse.params["W_hh"]).sum() < np.abs(plain.params["W_hh"]).sum()


def test_init_gain_scales_only_the_initial_recurrent_weights(tiny_task):
    arch = Architecture(2, 2, hidden=8)
    plain = train_ensemble(tiny_task, arch, [1, 2], _settings(max_steps=10), progress=False)
    gained = train_ensemble(tiny_task, arch, [1, 2], _settings(max_steps=10), [InitGain(3.0)], progress=False)
    np.testing.assert_allclose(gained.initial_params["W_hh"], 3.0 * plain.initial_params["W_hh"], rtol=1e-6)
    for name in ("W_in", "b", "W_out", "b_out"):
        np.testing.assert_array_equal(gained.initial_params[name], plain.initial_params[name])
    assert not np.array_equal(gained.params["W_in"], plain.params["W_in"])  # a different training


def test_low_rank_holds_the_recurrent_weights_at_their_rank(tiny_task):
    arch = Architecture(2, 2, hidden=8)
    plain = train_ensemble(tiny_task, arch, [1, 2, 3], _settings(), progress=False)
    low = train_ensemble(tiny_task, arch, [1, 2, 3], _settings(), [LowRank(2)], progress=False)
    for weights in (low.initial_params["W_hh"], low.params["W_hh"]):
        s = np.linalg.svd(weights, compute_uv=False)
        assert (s[:, 2:] < 1e-5 * s[:, :1]).all() and (s[:, 1] > 1e-2 * s[:, 0]).all()
    assert np.abs(low.params["W_hh"] - low.initial_params["W_hh"]).max() > 1e-3  # it learned
    unconstrained = np.linalg.svd(plain.params["W_hh"], compute_uv=False)
    assert (unconstrained[:, 2:] > 1e-3).all()
    assert np.nanmean(low.loss_curve[:, -1]) < np.nanmean(low.loss_curve[:, 0])


def test_nearest_low_rank_is_the_truncated_svd():
    m = torch.randn(3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    low = nearest_low_rank(m, 2)
    s = torch.linalg.svdvals(m)
    # Eckart–Young: the error is the norm of the discarded singular values
    torch.testing.assert_close(torch.linalg.matrix_norm(m - low), s[:, 2:].square().sum(-1).sqrt())
    assert (torch.linalg.matrix_rank(low) == 2).all()
    torch.testing.assert_close(nearest_low_rank(low, 2), low)  # a projection


def test_control_round_trip_and_errors():
    for control in (Width(32), MuP(gamma=3.0), L1(weight=1e-3), NuclearNorm(weight=1e-2), AuxiliaryOutput(),
                    InitGain(0.5), LowRank(3)):
        assert control_from_dict(control.to_dict()) == control
    with pytest.raises(KeyError, match="unknown control 'l3'"):
        get_control("l3")
    with pytest.raises(InvalidParameterError, match="weight"):
        L1(weight=-1.0)
    with pytest.raises(InvalidParameterError, match="no auxiliary output"):
        AuxiliaryOutput().configure(get_task("flipflop"), Architecture(3, 3))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InvalidParameterError, match="init_gain: gain must be"):
            InitGain(bad)
    with pytest.raises(InvalidParameterError, match="low_rank: rank must be"):
        LowRank(0)
    with pytest.raises(InvalidParameterError, match="give a rank below 8"):
        train_ensemble(get_task("flipflop"), Architecture(3, 3, hidden=8), [0], _settings(), [LowRank(8)],
                       progress=False)


def test_bad_training_input(tiny_task):
    arch = Architecture(2, 2, hidden=4)
    with pytest.raises(InvalidParameterError, match="distinct"):
        train_ensemble(tiny_task, arch, [1, 1], _settings(), progress=False)
    with pytest.raises(InvalidParameterError, match="inputs"):
        train_ensemble(tiny_task, Architecture(3, 2, hidden=4), [1], _settings(), progress=False)
    with pytest.raises(InvalidParameterError, match="max_steps"):
        TrainSettings(max_steps=0)


def test_trained_network_solves_flipflop():
    """A trained flip-flop network holds its bits: outputs keep the sign of the last pulse."""
    task = get_task("flipflop", bits=1, trial_length=25, p_pulse=0.1)
    arch = Architecture(1, 1, hidden=16)
    settings = TrainSettings(lr=1e-2, batch_size=32, max_steps=400, steps_per_epoch=50, threshold=0.02)
    result = train_ensemble(task, arch, [0], settings, progress=False)
    x, y = task.probe(n=32)
    with torch.no_grad():
        out, _ = forward({k: torch.as_tensor(v) for k, v in result.params.items()}, torch.as_tensor(x), arch)
    agree = np.mean(np.sign(out[0].numpy()) == np.sign(y))
    assert agree > 0.97


def test_initial_weights_are_kept_apart_from_trained(tiny_result):
    assert not np.shares_memory(tiny_result.initial_params["W_hh"], tiny_result.params["W_hh"])
    assert np.abs(tiny_result.initial_params["W_hh"] - tiny_result.params["W_hh"]).max() > 1e-3


@pytest.mark.parametrize("end_below", [False, True])
def test_a_member_that_spikes_in_its_patience_epochs_ends_converged_only_below_the_threshold(end_below):
    """Two members reach the threshold (0.01) in epoch 0 and serve 1 patience epoch; in epoch 1 the
    second spikes to 0.5. The paper's rule stops both; ``end_below_threshold`` keeps the second
    training until an epoch ends below the threshold (epoch 2), and never moves its first crossing."""
    from degzoo.training.trainer import STATUS_CONVERGED, STATUS_RUNNING, _end_epoch

    settings = TrainSettings(steps_per_epoch=10, patience_epochs=1, end_below_threshold=end_below)
    state = {"step": 0, "steps": np.zeros(2, np.int64), "reached_epoch": np.full(2, -1),
             "reached_step": np.full(2, -1), "final_loss": np.full(2, np.nan), "epoch_sum": np.zeros(2),
             "status": np.array([STATUS_RUNNING] * 2, dtype=object), "loss_curve": np.full((2, 4), np.nan)}
    statuses = []
    for epoch_loss in ([0.005, 0.005], [0.005, 0.5], [0.005, 0.004]):
        state["step"] += 10
        state["steps"][state["status"] == STATUS_RUNNING] += 10
        state["epoch_sum"][:] = np.asarray(epoch_loss) * 10
        _end_epoch(state, settings, threshold=0.01)
        statuses.append(list(state["status"]))
    assert state["reached_step"].tolist() == [10, 10]
    if end_below:
        assert statuses[1] == [STATUS_CONVERGED, STATUS_RUNNING]
        assert statuses[2] == [STATUS_CONVERGED, STATUS_CONVERGED]
        assert state["final_loss"][1] == pytest.approx(0.004)
    else:
        assert statuses[1] == [STATUS_CONVERGED, STATUS_CONVERGED]
        assert state["final_loss"][1] == pytest.approx(0.5)


def test_the_stopping_rule_is_recorded_only_when_it_is_not_the_papers():
    """Earlier recipes keep their fingerprints: the default rule is not written into the settings."""
    assert "end_below_threshold" not in TrainSettings().to_dict()
    assert TrainSettings(end_below_threshold=True).to_dict()["end_below_threshold"] is True
    assert TrainSettings.from_dict(TrainSettings(end_below_threshold=True).to_dict()).end_below_threshold
    with pytest.raises(InvalidParameterError, match="end_below_threshold must be true or false"):
        TrainSettings(end_below_threshold="yes")
