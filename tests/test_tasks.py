"""Task generators: shapes, determinism, independently checked targets, variants, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest

from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.tasks import (
    PROBE_SEED_BASE,
    DelayedDiscrimination,
    FlipFlop,
    PathIntegration,
    SineWave,
    Task,
    available_tasks,
    get_task,
    task_from_dict,
)
from degzoo.tasks.path_integration import ARENA, reflect

VARIANTS = [
    FlipFlop(),
    FlipFlop(bits=1, trial_length=17, p_pulse=0.3),
    SineWave(),
    SineWave(channels=3, n_freq=4),
    DelayedDiscrimination(),
    DelayedDiscrimination(channels=2, aux=True, delay_min=0, delay_max=3),
    PathIntegration(),
    PathIntegration(dims=3, trial_length=40),
]
IDS = [f"{t.name}-{i}" for i, t in enumerate(VARIANTS)]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- contract ----------------------------------------------------------------------------------
@pytest.mark.parametrize("task", VARIANTS, ids=IDS)
def test_shapes_and_dtypes(task: Task) -> None:
    x, y = task.sample(5, rng())
    assert x.shape == (5, task.trial_length, task.n_inputs)
    assert y.shape == (5, task.trial_length, task.n_outputs)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert x.flags.c_contiguous and y.flags.c_contiguous
    assert np.isfinite(x).all() and np.isfinite(y).all()
    lo, hi = task.output_range
    assert y.min() >= lo and y.max() <= hi


def test_declared_sizes() -> None:
    assert (FlipFlop(bits=4).n_inputs, FlipFlop(bits=4).n_outputs, FlipFlop().trial_length) == (4, 4, 100)
    assert (SineWave(channels=2).n_inputs, SineWave(channels=2).n_outputs) == (2, 2)
    dd = DelayedDiscrimination(channels=3)
    assert (dd.n_inputs, dd.n_outputs, dd.trial_length) == (3, 3, 5 + 20 + 2 + 10)
    assert DelayedDiscrimination(channels=3, aux=True).n_outputs == 6
    assert (PathIntegration().n_inputs, PathIntegration().n_outputs) == (5, 2)
    assert (PathIntegration(dims=3).n_inputs, PathIntegration(dims=3).n_outputs) == (8, 3)
    assert PathIntegration.output_range == (-5.0, 5.0)


def test_mse_thresholds_are_the_papers() -> None:
    assert FlipFlop.mse_threshold == 0.001
    assert SineWave.mse_threshold == 0.05
    assert DelayedDiscrimination.mse_threshold == 0.01
    assert PathIntegration.mse_threshold == 0.05


@pytest.mark.parametrize("task", VARIANTS, ids=IDS)
def test_same_seed_same_data_other_seed_other_data(task: Task) -> None:
    a = task.sample(6, rng(3))
    b = task.sample(6, rng(3))
    c = task.sample(6, rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert task.sample(6, 3)[0].tobytes() == a[0].tobytes()  # an int seed is a generator seed


@pytest.mark.parametrize("task", VARIANTS[::2], ids=IDS[::2])
def test_probe_is_the_seeded_standard_set(task: Task) -> None:
    x, y = task.probe(8, seed=2)
    ex, ey = task.sample(8, np.random.default_rng([PROBE_SEED_BASE, 2]))
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    assert task.probe()[0].shape[0] == 64
    assert not np.array_equal(task.probe(8, seed=0)[0], x)
    assert not np.array_equal(task.sample(8, rng(2))[0], x)  # not a training seed's data


def test_sample_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match=r"rng must be a numpy\.random\.Generator"):
        FlipFlop().sample(2, np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="n must be >= 0"):
        FlipFlop().sample(-1, rng())
    x, y = FlipFlop().sample(0, rng())
    assert x.shape == (0, 100, 3) and y.shape == (0, 100, 3)


def test_tasks_are_frozen_hashable_values() -> None:
    t = FlipFlop(bits=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.bits = 3  # type: ignore[misc]
    assert t == FlipFlop(bits=2) and hash(t) == hash(FlipFlop(bits=2))
    assert t != FlipFlop(bits=3)
    assert FlipFlop(bits=np.int64(2)).to_dict()["bits"].__class__ is int  # normalised to int


# -- flip-flop ---------------------------------------------------------------------------------
def test_flipflop_target_is_last_pulse_by_explicit_loop() -> None:
    task = FlipFlop(bits=3, trial_length=60, p_pulse=0.1)
    x, y = task.sample(20, rng(1))
    assert set(np.unique(x)) <= {-1.0, 0.0, 1.0}
    assert (x[:, 0, :] != 0).all()  # documented: every channel pulses at step 0
    expected = np.empty_like(y)
    for i in range(x.shape[0]):
        for c in range(x.shape[2]):
            held = 0.0
            for t in range(x.shape[1]):
                if x[i, t, c] != 0:
                    held = x[i, t, c]
                expected[i, t, c] = held
    np.testing.assert_array_equal(y, expected)
    assert set(np.unique(y)) == {-1.0, 1.0}


def test_flipflop_data_is_pinned() -> None:
    """A seed means the same flip-flop trials on every machine and every degzoo version.

    The zoo records seeds, not data, so a faster sampler must draw the same numbers. Flip-flop uses
    only uniform draws and comparisons (no transcendental whose last bit could vary by CPU), so its
    bytes are pinned; the digest is of the sampler as it built the embedded zoo.
    """
    x, y = FlipFlop(bits=3).sample(32, rng(7))
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    assert digest == "18c66117098c6a253c411408ca1c008abea6ac30bf28f07df8fa5e35f9aae5f7"


def test_flipflop_pulse_statistics() -> None:
    task = FlipFlop(bits=4, trial_length=200, p_pulse=0.05)
    x, _ = task.sample(200, rng(2))
    later = x[:, 1:, :]
    rate = np.mean(later != 0)
    assert abs(rate - 0.05) < 0.004
    assert abs(np.mean(later[later != 0] > 0) - 0.5) < 0.03  # balanced signs
    assert not FlipFlop(p_pulse=0.0).sample(3, rng())[0][:, 1:].any()


# -- sine wave ---------------------------------------------------------------------------------
def test_sine_target_is_sine_of_the_encoded_frequency() -> None:
    task = SineWave(channels=2, n_freq=5, trial_length=80)
    x, y = task.sample(30, rng(5))
    assert np.all(x == x[:, :1, :])  # static input
    f = (x[:, 0, :].astype(np.float64) - 0.25) * 30.0  # documented code: 0.25 + f / f_max
    levels = np.array([1.0, 8.25, 15.5, 22.75, 30.0])
    assert np.abs(f[..., None] - levels).min(axis=-1).max() < 1e-4
    f = levels[np.abs(f[..., None] - levels).argmin(axis=-1)]
    t = np.arange(80) * 0.01
    np.testing.assert_allclose(y, np.sin(2 * np.pi * f[:, None, :] * t[None, :, None]), atol=1e-6)
    assert not np.array_equal(f[:, 0], f[:, 1])  # channels draw their frequencies independently
    assert y[:, 0, :].max() == 0.0  # phase 0 at step 0


def test_sine_frequencies_cover_the_range() -> None:
    np.testing.assert_allclose(SineWave(n_freq=30).frequencies, np.arange(1, 31))
    np.testing.assert_allclose(SineWave(n_freq=1).frequencies, [1.0])
    x, _ = SineWave(n_freq=3).sample(300, rng())
    assert len(np.unique(x)) == 3


# -- delayed discrimination --------------------------------------------------------------------
def test_delayed_discrimination_targets_by_explicit_loop() -> None:
    task = DelayedDiscrimination(channels=2, aux=True)
    x, y = task.sample(40, rng(7))
    delays = []
    for i in range(x.shape[0]):
        pulse_steps = np.flatnonzero(np.any(x[i] != 0, axis=1))
        assert len(pulse_steps) == 2
        t1, t2 = pulse_steps
        assert t1 == task.pre_steps
        delays.append(t2 - t1 - 1)
        for c in range(2):
            f1, f2 = x[i, t1, c] * 10.0, x[i, t2, c] * 10.0
            assert f1 != f2 and min(f1, f2) >= 2.0 - 1e-5 and max(f1, f2) <= 10.0 + 1e-5
            for t in range(x.shape[1]):
                respond = t > t2
                assert y[i, t, c] == (np.sign(f2 - f1) if respond else 0.0)
                aux = abs(f2 - f1) / 8.0 if respond else 0.0
                assert y[i, t, 2 + c] == pytest.approx(aux, abs=1e-6)
            assert round(f1) == pytest.approx(f1, abs=1e-5)  # levels 2, 3, ..., 10
        assert x.shape[1] - (t2 + 1) >= task.response_steps  # response period length
    assert min(delays) >= 5 and max(delays) <= 20
    assert len(set(delays)) > 8


def test_delayed_discrimination_answers_are_balanced() -> None:
    _, y = DelayedDiscrimination().sample(2000, rng())
    answer = y[:, -1, 0]
    assert set(np.unique(answer)) == {-1.0, 1.0}
    assert abs(np.mean(answer > 0) - 0.5) < 0.04


# -- path integration --------------------------------------------------------------------------
def _velocity(x: np.ndarray, dims: int) -> np.ndarray:
    x = x.astype(np.float64)
    if dims == 2:
        return x[..., 2:3] * x[..., 0:2]
    cos_el, sin_el, v = x[..., 2], x[..., 3], x[..., 4]
    return v[..., None] * np.stack([cos_el * x[..., 0], cos_el * x[..., 1], sin_el], axis=-1)


@pytest.mark.parametrize("dims", [2, 3])
def test_path_integration_target_is_start_plus_cumulative_velocity(dims: int) -> None:
    task = PathIntegration(dims=dims)
    x, y = task.sample(64, rng(11))
    start = x[:, 0, -dims:].astype(np.float64) * 5.0
    assert not x[:, 1:, -dims:].any()  # start given at step 0 only
    expected = start[:, None, :] + np.cumsum(_velocity(x, dims), axis=1)
    np.testing.assert_allclose(y, expected, atol=2e-4)
    assert np.abs(y).max() <= 5.0
    speed = x[..., 4 if dims == 3 else 2]
    assert speed.min() >= 0 and speed.max() <= task.speed_max + 1e-6
    # the walls are exercised: some trials come within 0.05 of a wall and turn back
    near = np.abs(y) > 4.95
    assert near.any(axis=(1, 2)).mean() > 0.1


def test_path_integration_heading_is_a_smooth_random_walk() -> None:
    x, y = PathIntegration(heading_noise=0.3).sample(64, rng(3))
    theta = np.arctan2(x[..., 1], x[..., 0])
    dtheta = np.angle(np.exp(1j * np.diff(theta, axis=1)))
    inside = (np.abs(y[:, 1:]) < 4.5).all(axis=2) & (np.abs(y[:, :-1]) < 4.5).all(axis=2)
    assert np.std(dtheta[inside]) == pytest.approx(0.3, rel=0.1)


def test_reflect_matches_a_bouncing_particle() -> None:
    r = rng(9)
    for _ in range(20):
        steps = r.normal(0, 2.0, size=50)
        pos, v_sign = r.uniform(-5, 5), 1.0
        free = pos + np.cumsum(steps)
        for t, step in enumerate(steps):  # move, mirroring the rest of the step at each wall
            pos += v_sign * step
            while abs(pos) > 5.0:
                pos = math.copysign(10.0, pos) - pos
                v_sign = -v_sign
            assert reflect(np.array(free[t]))[()] == pytest.approx(pos, abs=1e-9)
    np.testing.assert_allclose(reflect(np.array([-5.0, 0.0, 3.0, 5.0])), [-5.0, 0.0, 3.0, 5.0])
    np.testing.assert_allclose(reflect(np.array([6.0, -7.5, 16.0])), [4.0, -2.5, -4.0])
    assert ARENA == 5.0


# -- variants, description, registry -----------------------------------------------------------
def test_ood_doubles_trial_length() -> None:
    for task in (FlipFlop(bits=2), SineWave(channels=2), PathIntegration(dims=3)):
        ood = task.ood()
        assert ood.trial_length == 2 * task.trial_length
        assert ood.complexity() == task.complexity()
        assert ood.sample(2, rng())[0].shape[1] == 2 * task.trial_length


def test_ood_doubles_the_delay_for_delayed_discrimination() -> None:
    task = DelayedDiscrimination(delay_min=5, delay_max=20)
    ood = task.ood()
    assert (ood.delay_min, ood.delay_max) == (10, 40)
    assert ood.trial_length == task.trial_length + 20
    x, _ = ood.sample(500, rng())
    delays = np.diff(np.flatnonzero(np.any(x != 0, axis=2).reshape(-1)).reshape(-1, 2), axis=1) - 1
    assert delays.min() >= 10 and delays.max() <= 40 and delays.max() > 30


def test_complexity_knobs() -> None:
    assert FlipFlop(bits=3).complexity() == {"bits": 3.0}
    assert SineWave(channels=2, n_freq=5).complexity() == {"channels": 2.0, "n_freq": 5.0}
    assert DelayedDiscrimination(channels=2, aux=True).complexity() == {
        "channels": 2.0, "delay_min": 5.0, "delay_max": 20.0, "aux": 1.0}
    assert PathIntegration(dims=3).complexity() == {"dims": 3.0}


@pytest.mark.parametrize("task", VARIANTS, ids=IDS)
def test_to_dict_round_trip(task: Task) -> None:
    d = task.to_dict()
    assert d["name"] == task.name
    again = task_from_dict(json.loads(json.dumps(d)))
    assert again == task and type(again) is type(task)
    np.testing.assert_array_equal(again.sample(3, rng())[1], task.sample(3, rng())[1])


def test_registry() -> None:
    assert available_tasks() == ["delayed_discrimination", "flipflop", "path_integration", "sine"]
    assert get_task("flipflop", bits=5) == FlipFlop(bits=5)
    assert isinstance(get_task("sine"), SineWave)
    assert get_task("delayed_discrimination", aux=True).aux is True
    assert get_task("path_integration", dims=3).dims == 3


def test_unknown_task_name() -> None:
    with pytest.raises(UnknownNameError) as err:
        get_task("flipflops")
    msg = str(err.value)
    assert "flipflops" in msg and "did you mean 'flipflop'" in msg
    assert "delayed_discrimination, flipflop, path_integration, sine" in msg
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownNameError):
        task_from_dict({"name": "nope"})


def test_unknown_parameter_and_bad_dicts() -> None:
    with pytest.raises(InvalidParameterError, match=r"unknown parameter.*nbits.*valid parameters: bits"):
        get_task("flipflop", nbits=3)
    with pytest.raises(InvalidParameterError, match="'name' key"):
        task_from_dict({"bits": 3})


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("flipflop", {"bits": 0}, "flipflop: bits must be >= 1, got 0"),
        ("flipflop", {"bits": 2.5}, "bits must be an integer"),
        ("flipflop", {"bits": True}, "bits must be an integer"),
        ("flipflop", {"p_pulse": 1.5}, "p_pulse must be <= 1.0"),
        ("flipflop", {"trial_length": 0}, "trial_length must be >= 1"),
        ("sine", {"n_freq": 0}, "n_freq must be >= 1"),
        ("sine", {"channels": 0}, "channels must be >= 1"),
        ("sine", {"f_min": 20.0, "f_max": 10.0}, "f_min must be <= f_max"),
        ("sine", {"f_max": 60.0}, "not representable with dt=0.01"),
        ("sine", {"dt": 0.0}, "dt must be > 0.0"),
        ("sine", {"f_min": float("nan")}, "f_min must be a finite number"),
        ("delayed_discrimination", {"delay_min": -1}, "delay_min must be >= 0, got -1"),
        ("delayed_discrimination", {"delay_min": 10, "delay_max": 5}, "delay_min must be <= delay_max"),
        ("delayed_discrimination", {"channels": 0}, "channels must be >= 1"),
        ("delayed_discrimination", {"aux": 1}, "aux must be True or False"),
        ("delayed_discrimination", {"n_levels": 1}, "n_levels must be >= 2"),
        ("delayed_discrimination", {"f_min": 10.0, "f_max": 10.0}, "f_min must be < f_max"),
        ("path_integration", {"dims": 1}, "dims must be 2 or 3, got 1"),
        ("path_integration", {"dims": 4}, "dims must be 2 or 3, got 4"),
        ("path_integration", {"speed_max": 0}, "speed_max must be > 0.0"),
        ("path_integration", {"heading_noise": -0.1}, "heading_noise must be >= 0.0"),
    ],
)
def test_invalid_parameters(name: str, params: dict, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        get_task(name, **params)
    with pytest.raises(ValueError):  # InvalidParameterError is a ValueError
        get_task(name, **params)


# -- loss --------------------------------------------------------------------------------------
def test_loss_is_mse_over_steps_and_outputs() -> None:
    task = FlipFlop(bits=2, trial_length=10)
    _, y = task.sample(4, rng())
    assert task.loss(y, y) == 0.0
    out = np.zeros_like(y)
    assert task.loss(out, y) == pytest.approx(1.0)  # targets are ±1
    out[0] = y[0]
    per_trial = task.loss(out, y, reduce=False)
    np.testing.assert_allclose(per_trial, [0.0, 1.0, 1.0, 1.0])
    assert isinstance(task.loss(out, y), float)
    with pytest.raises(InvalidParameterError, match="same"):
        task.loss(out[:, :5], y)


def test_loss_on_torch_tensors_is_differentiable() -> None:
    torch = pytest.importorskip("torch")
    task = SineWave()
    _, y = task.sample(2, rng())
    out = torch.zeros(y.shape, requires_grad=True)
    loss = task.loss(out, torch.from_numpy(y))
    loss.backward()
    assert loss.item() == pytest.approx(float(np.mean(y.astype(np.float64) ** 2)), rel=1e-5)
    assert out.grad is not None and out.grad.abs().sum() > 0
