"""Seeded task generators: flip-flop, sine wave, delayed discrimination, path integration.

Usage::

    task = get_task("flipflop", bits=3)
    inputs, targets = task.sample(8, np.random.default_rng(0))  # [8, 100, 3] each, float32
"""

from __future__ import annotations

from degzoo.tasks.base import PROBE_SEED_BASE, Task
from degzoo.tasks.delayed_discrimination import DelayedDiscrimination
from degzoo.tasks.flipflop import FlipFlop
from degzoo.tasks.path_integration import PathIntegration
from degzoo.tasks.registry import available_tasks, get_task, task_from_dict
from degzoo.tasks.sine import SineWave

__all__ = [
    "PROBE_SEED_BASE",
    "DelayedDiscrimination",
    "FlipFlop",
    "PathIntegration",
    "SineWave",
    "Task",
    "available_tasks",
    "get_task",
    "task_from_dict",
]
