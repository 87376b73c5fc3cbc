"""Shared fixtures: tiny tasks and ensembles so the suite runs in minutes on 2 cores."""

from __future__ import annotations

import os

# Hub settings are read once when huggingface_hub is imported: set them before any test imports it.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

import numpy as np
import pytest
import torch
from hub_server import hub_server  # noqa: F401  (the loopback Hub fixture)

from degzoo.models import Architecture
from degzoo.tasks import get_task
from degzoo.training import TrainSettings, train_ensemble
from degzoo.zoo import Ensemble

torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _own_degzoo_cache(tmp_path_factory):
    """Networks the suites train as ground truth (degzoo.benchmark.trained_matches) go to a folder
    of the test session, never to the user's cache; the shipped ones are read as usual."""
    previous = os.environ.get("DEGZOO_CACHE")
    os.environ["DEGZOO_CACHE"] = str(tmp_path_factory.mktemp("degzoo-cache"))
    yield
    if previous is None:
        os.environ.pop("DEGZOO_CACHE")
    else:
        os.environ["DEGZOO_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_task():
    return get_task("flipflop", bits=2, trial_length=30)


@pytest.fixture(scope="session")
def tiny_result(tiny_task):
    """Four 16-unit flip-flop networks after a few hundred steps (not converged: that is fine)."""
    arch = Architecture(n_inputs=2, n_outputs=2, hidden=16)
    settings = TrainSettings(lr=5e-3, batch_size=16, max_steps=150, steps_per_epoch=50)
    return train_ensemble(tiny_task, arch, [11, 12, 13, 14], settings, progress=False)


@pytest.fixture(scope="session")
def tiny_ensemble(tiny_result, tiny_task) -> Ensemble:
    return Ensemble.from_result(tiny_result, tiny_task.probe(n=8))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
