"""Recipes: the TOML description of a zoo release (conditions, members, sizes, training, seeds).

A recipe file looks like::

    [release]
    name = "embedded"
    seed = 0                        # base seed; member seeds derive from it and the condition id
    notes = "How it was built, where it departs from the paper"   # optional Markdown, in the card

    [defaults]                      # applied to every condition unless it overrides them
    members = 16
    hidden = 32
    training = { lr = 3e-3, batch_size = 32, max_steps = 3000, steps_per_epoch = 100 }

    [[condition]]
    id = "flipflop-bits3"
    task = { name = "flipflop", bits = 3, trial_length = 60 }
    controls = [{ name = "l1", weight = 1e-4 }]     # optional

    [[ladder]]                      # an ordered series of conditions along one factor
    name = "flipflop-complexity"
    factor = "complexity"           # complexity | memory | width | regularisation | feature_learning | aux
    conditions = ["flipflop-bits1", "flipflop-bits2", "flipflop-bits3"]
    values = [1, 2, 3]

Ladders say which conditions form the trends of PAPER-FACTS; the benchmark reads them from the
release's manifest.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.models import Architecture
from degzoo.tasks import task_from_dict
from degzoo.training import Control, TrainSettings, check_training_memory, control_from_dict

FACTORS = ("complexity", "memory", "width", "regularisation", "feature_learning", "aux")
BUILTIN_RECIPES = ("embedded", "paper", "zoo-v2", "zoo-v3")
#: Upper bounds that catch typos (an extra zero or three) before they exhaust memory.
MAX_MEMBERS = 10_000
MAX_HIDDEN = 8_192


@dataclass(frozen=True)
class Condition:
    """One ensemble of a release: task × controls × width, with its members' seeds."""

    id: str
    task: Any
    controls: tuple[Control, ...]
    hidden: int
    members: int
    settings: TrainSettings
    seeds: tuple[int, ...]

    @property
    def file(self) -> str:
        return f"ensembles/{self.id}.h5"

    def architecture(self) -> Architecture:
        return Architecture(self.task.n_inputs, self.task.n_outputs, hidden=self.hidden)

    def to_dict(self) -> dict[str, Any]:
        """What the manifest and the ensemble file record about this condition."""
        return {
            "id": self.id,
            "file": self.file,
            "task": self.task.to_dict(),
            "controls": [c.to_dict() for c in self.controls],
            "hidden": self.hidden,
            "members": self.members,
            "training": self.settings.to_dict(),
            "seeds": list(self.seeds),
            "fingerprint": self.fingerprint,
        }

    @property
    def fingerprint(self) -> str:
        """Hash of everything that determines the trained weights."""
        blob = json.dumps(
            {"task": self.task.to_dict(), "controls": [c.to_dict() for c in self.controls],
             "hidden": self.hidden, "training": self.settings.to_dict(), "seeds": list(self.seeds)},
            sort_keys=True, default=list,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Ladder:
    name: str
    factor: str
    conditions: tuple[str, ...]
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "factor": self.factor, "conditions": list(self.conditions),
                "values": list(self.values)}


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: int
    conditions: tuple[Condition, ...]
    ladders: tuple[Ladder, ...] = ()
    source: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def condition(self, condition_id: str) -> Condition:
        for c in self.conditions:
            if c.id == condition_id:
                return c
        raise UnknownNameError(f"recipe {self.name!r} has no condition {condition_id!r}")


def condition_seeds(base_seed: int, condition_id: str, members: int) -> tuple[int, ...]:
    """Member seeds of a condition: a function of the recipe seed and the condition id only."""
    key = int.from_bytes(hashlib.sha256(condition_id.encode()).digest()[:4], "little")
    return tuple(int(s) for s in np.random.SeedSequence([base_seed, key]).generate_state(members))


@functools.cache
def zoo_task_defaults(task_name: str) -> dict[str, Any]:
    """Task parameters the embedded zoo sets the same way in every condition of ``task_name``.

    E.g. ``{"trial_length": 60}`` for flip-flop: an ensemble trained with these settings shares
    the zoo's task and probe set, so metrics can compare it with the zoo's ensembles.
    """
    raw = tomllib.loads(resources.files("degzoo.recipes").joinpath("embedded.toml").read_text())
    tasks = [dict(c["task"]) for c in raw["condition"] if c["task"]["name"] == task_name]
    if not tasks:
        return {}
    common = {k: v for k, v in tasks[0].items() if k != "name"}
    return {k: v for k, v in common.items() if all(t.get(k, object()) == v for t in tasks)}


def load_recipe(source: str | os.PathLike[str]) -> Recipe:
    """Parse a recipe file, or a built-in recipe by name (one of ``BUILTIN_RECIPES``)."""
    if isinstance(source, str) and source in BUILTIN_RECIPES:
        text = resources.files("degzoo.recipes").joinpath(f"{source}.toml").read_text()
        label = f"built-in recipe {source!r}"
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidParameterError(
                f"recipe {source}: no such file; give a path or one of {', '.join(BUILTIN_RECIPES)}"
            )
        label = str(path)
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidParameterError(
                f"{label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "save the recipe as UTF-8"
            ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"{label}: not valid TOML ({exc})") from None
    return recipe_from_dict(data, label)


def recipe_from_dict(data: dict[str, Any], label: str = "recipe") -> Recipe:
    """Validate and build a :class:`Recipe`; every problem names the condition and the field."""
    release = _table(data.get("release", {}), f"{label}: [release]")
    name = release.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidParameterError(f"{label}: [release] needs a name")
    seed = release.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InvalidParameterError(f"{label}: [release] seed must be an integer >= 0, got {seed!r}")
    if not isinstance(release.get("notes", ""), str):
        raise InvalidParameterError(f"{label}: [release] notes must be a string (Markdown for the card)")
    defaults = _table(data.get("defaults", {}), f"{label}: [defaults]")
    raw_conditions = _tables(data.get("condition", []), f"{label}: condition", "[[condition]] entries")
    if not raw_conditions:
        raise InvalidParameterError(f"{label}: no [[condition]] entries")
    conditions, seen, fingerprints = [], set(), {}
    for i, raw in enumerate(raw_conditions):
        cond = _condition(raw, defaults, seed, f"{label}: condition #{i + 1}")
        if cond.id in seen:
            raise InvalidParameterError(f"{label}: duplicate condition id {cond.id!r}")
        twin = fingerprints.get((cond.task, cond.controls, cond.hidden))
        if twin is not None:
            raise InvalidParameterError(
                f"{label}: conditions {twin!r} and {cond.id!r} are the same task, controls and width; "
                "remove one"
            )
        seen.add(cond.id)
        fingerprints[(cond.task, cond.controls, cond.hidden)] = cond.id
        conditions.append(cond)
    raw_ladders = _tables(data.get("ladder", []), f"{label}: ladder", "[[ladder]] entries")
    ladders = tuple(_ladder(raw, seen, label) for raw in raw_ladders)
    return Recipe(name=name, seed=seed, conditions=tuple(conditions), ladders=ladders, source=data)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameterError(f"{where} must be a table (key = value pairs), got {value!r}")
    return value


def _tables(value: Any, where: str, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidParameterError(f"{where}: expected {what} (tables), got {value!r}")
    return value


def _bounded_int(value: Any, where: str, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidParameterError(f"{where}: {name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _condition(raw: dict[str, Any], defaults: dict[str, Any], base_seed: int, where: str) -> Condition:
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid or "/" in cid or cid.startswith("."):
        raise InvalidParameterError(f"{where}: needs an id (a plain name), got {cid!r}")
    where = f"{where} ({cid})"
    if "task" not in raw:
        raise InvalidParameterError(f"{where}: missing task, e.g. task = {{ name = \"flipflop\", bits = 3 }}")
    raw_task = raw["task"]
    if not isinstance(raw_task, dict):
        raise InvalidParameterError(
            f"{where}: task must be a table like {{ name = \"flipflop\", bits = 3 }}, got {raw_task!r}"
        )
    raw_controls = _tables(raw.get("controls", []), f"{where}: controls",
                           'a list of tables like [{ name = "l1", weight = 1e-4 }]')
    training = {**_table(defaults.get("training", {}), f"{where}: [defaults] training"),
                **_table(raw.get("training", {}), f"{where}: training")}
    try:
        task = task_from_dict(dict(raw_task))
        controls = tuple(control_from_dict(dict(c)) for c in raw_controls)
        settings = TrainSettings(**training)
    except KeyError as exc:
        raise InvalidParameterError(f"{where}: missing or unknown {exc}") from None
    except (InvalidParameterError, UnknownNameError, TypeError) as exc:
        raise InvalidParameterError(f"{where}: {exc}") from None
    hidden = _bounded_int(raw.get("hidden", defaults.get("hidden", 128)), where, "hidden", 1, MAX_HIDDEN)
    members = _bounded_int(raw.get("members", defaults.get("members", 16)), where, "members", 2, MAX_MEMBERS)
    for control in controls:
        task, arch = control.configure(task, Architecture(task.n_inputs, task.n_outputs, hidden=hidden))
        hidden = arch.hidden
    check_training_memory(task, Architecture(task.n_inputs, task.n_outputs, hidden=hidden), members, settings,
                          where=f"{where}: training")
    return Condition(id=cid, task=task, controls=controls, hidden=hidden, members=members,
                     settings=settings, seeds=condition_seeds(base_seed, cid, members))


def _ladder(raw: dict[str, Any], known: set[str], label: str) -> Ladder:
    name = raw.get("name", "?")
    factor = raw.get("factor")
    if factor not in FACTORS:
        raise InvalidParameterError(f"{label}: ladder {name!r}: factor must be one of {FACTORS}")
    conds, values = raw.get("conditions", []), raw.get("values", [])
    if (not isinstance(conds, list) or not all(isinstance(c, str) for c in conds)
            or not isinstance(values, list)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
        raise InvalidParameterError(
            f"{label}: ladder {name!r}: conditions must be a list of condition ids, values a list of numbers"
        )
    conds, values = tuple(conds), tuple(values)
    if len(conds) < 2 or len(conds) != len(values):
        raise InvalidParameterError(
            f"{label}: ladder {name!r} needs >= 2 conditions and one value per condition"
        )
    unknown = [c for c in conds if c not in known]
    if unknown:
        raise InvalidParameterError(f"{label}: ladder {name!r} names unknown conditions {unknown}")
    return Ladder(name=name, factor=factor, conditions=conds, values=values)
