"""Information-theoretic task complexity: analytic values, knob monotonicity, errors."""

from __future__ import annotations

import itertools
import math

import pytest

from degzoo.errors import InvalidParameterError
from degzoo.metrics.complexity import memory_demand, output_entropy_rate, task_complexity
from degzoo.tasks import DelayedDiscrimination, FlipFlop, PathIntegration, SineWave


def h2(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def flipflop_memory(bits: int, p: float, window: int, t_len: int) -> float:
    """Analytic memory demand of the flip-flop (module docstring of degzoo.metrics.complexity)."""
    return bits * (1 - p) ** (window + 1) * (t_len - window - 1) / (t_len - window)


# -- analytic values ---------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_flipflop_memory_demand_matches_analytic_value(bits: int) -> None:
    task = FlipFlop(bits=bits, p_pulse=0.05)
    expected = flipflop_memory(bits, 0.05, 10, 100)  # 0.562 bit per channel
    assert memory_demand(task, window=10) == pytest.approx(expected, rel=0.03)


def test_flipflop_with_rare_pulses_holds_n_bits() -> None:
    # balanced pulses, p = 0.005: every channel holds one bit -> memory demand ≈ N bits (5 %)
    value = memory_demand(FlipFlop(bits=3, p_pulse=0.005), window=0)
    assert value == pytest.approx(3.0, rel=0.05)
    assert value == pytest.approx(flipflop_memory(3, 0.005, 0, 100), rel=0.02)


def test_flipflop_memory_demand_follows_the_window() -> None:
    task = FlipFlop(bits=2, p_pulse=0.1, trial_length=60)
    for window in (0, 3):
        expected = flipflop_memory(2, 0.1, window, 60)
        assert memory_demand(task, window=window) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(("bits", "p"), [(1, 0.05), (3, 0.05), (2, 0.2)])
def test_flipflop_entropy_rate_matches_analytic_value(bits: int, p: float) -> None:
    # each channel is a Markov chain flipping with probability p/2 per step
    value = output_entropy_rate(FlipFlop(bits=bits, p_pulse=p))
    assert value == pytest.approx(bits * h2(p / 2), rel=0.04)


def test_degenerate_flipflop_pulsing_every_step() -> None:
    # p = 1: the target is the current input (no memory) and a fresh fair bit per step
    task = FlipFlop(bits=2, p_pulse=1.0, trial_length=30)
    assert memory_demand(task, window=2) == pytest.approx(0.0, abs=0.01)
    assert output_entropy_rate(task) == pytest.approx(2.0, abs=0.02)


def test_estimates_never_exceed_the_discretised_range() -> None:
    # positions are cut into 9 bins per axis: at most log2(9) bits per output channel (the
    # held-out estimate may exceed it by sampling noise only); recent heading and speed say
    # almost nothing about where the agent is, so nearly all of it is memory
    for dims in (2, 3):
        value = memory_demand(PathIntegration(dims=dims), n_trials=600)
        assert dims * (math.log2(9) - 0.15) < value <= dims * (math.log2(9) + 0.03)


# -- monotone along each task's knobs ----------------------------------------------------------
def both(task, **kw) -> tuple[float, float]:
    return memory_demand(task, **kw), output_entropy_rate(task, **kw)


def assert_increasing(values: list[tuple[float, float]], margin: float = 0.02) -> None:
    for (m0, h0), (m1, h1) in itertools.pairwise(values):
        assert m1 > m0 + margin, values
        assert h1 > h0 + margin, values


def test_flipflop_bits_increase_both() -> None:
    assert_increasing([both(FlipFlop(bits=b), n_trials=300) for b in (1, 2, 3)])


def test_delayed_discrimination_channels_and_aux_increase_both() -> None:
    one, two = (both(DelayedDiscrimination(channels=c), n_trials=1000) for c in (1, 2))
    aux = both(DelayedDiscrimination(aux=True), n_trials=1000)
    assert_increasing([one, two])
    assert_increasing([one, aux])


def test_longer_delays_increase_memory_demand() -> None:
    ranges = [(0, 5), (2, 8), (5, 20), (10, 40)]
    values = [memory_demand(DelayedDiscrimination(delay_min=a, delay_max=b), n_trials=1500)
              for a, b in ranges]
    assert all(b > a + 0.03 for a, b in itertools.pairwise(values)), values


def test_sine_channels_increase_both() -> None:
    assert_increasing([both(SineWave(channels=c), n_trials=300) for c in (1, 2, 3)])


def test_path_integration_3d_exceeds_2d() -> None:
    assert_increasing([both(PathIntegration(dims=d), n_trials=300) for d in (2, 3)])


# -- API ---------------------------------------------------------------------------------------
def test_task_complexity_returns_both_measures_reproducibly() -> None:
    task = DelayedDiscrimination()
    result = task_complexity(task, n_trials=400, window=5)
    assert set(result) == {"memory_demand", "output_entropy_rate"}
    assert result["memory_demand"] == memory_demand(task, n_trials=400, window=5)
    assert result["output_entropy_rate"] == output_entropy_rate(task, n_trials=400)
    assert task_complexity(task, n_trials=400, window=5) == result
    assert task_complexity(task, n_trials=400, window=5, seed=1) != result


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: memory_demand(FlipFlop(trial_length=10), window=10), "use at most 9"),
        (lambda: memory_demand(FlipFlop(), window=-1), "window must be an integer >= 0"),
        (lambda: memory_demand(FlipFlop(), n_trials=1), "n_trials must be an integer >= 2"),
        (lambda: memory_demand(FlipFlop(), input_bins=1), "input_bins must be an integer >= 2"),
        (lambda: output_entropy_rate(FlipFlop(), order=0), "order must be an integer >= 1"),
        (lambda: output_entropy_rate(FlipFlop(), bins=1), "bins must be an integer >= 2"),
        (lambda: output_entropy_rate("flipflop"), "expected a degzoo task"),
        (lambda: task_complexity(FlipFlop(), windw=3), "unknown option.*windw"),
    ],
)
def test_invalid_arguments(call, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        call()
