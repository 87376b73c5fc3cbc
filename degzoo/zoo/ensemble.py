"""``Ensemble`` and ``Network``: trained RNNs as numpy arrays, torch modules and trajectories.

An ensemble opened from a file reads its small tables eagerly and its weights lazily: one member's
weights are one HDF5 chunk per matrix. An ensemble can also live in memory (``from_arrays``), which
is how the benchmark builds twins, perturbations and mixtures of members.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import h5py
import numpy as np

from degzoo.errors import DegzooError, InvalidParameterError, ZooFormatError
from degzoo.models import PARAM_NAMES, Architecture, TorchRNN, simulate, to_torch
from degzoo.tasks import task_from_dict
from degzoo.training import Control, control_from_dict
from degzoo.zoo.format import (
    ContentHashes,
    corrupt_file_errors,
    open_ensemble_file,
    read_content_hashes,
    read_members,
    read_probe,
    read_provenance,
    read_weights,
    validate_layout,
)

Params = dict[str, np.ndarray]


class Ensemble:
    """E trained networks of one condition, with their probe set and provenance."""

    def __init__(
        self,
        *,
        task: Any,
        architecture: Architecture,
        probe_inputs: np.ndarray | None,
        probe_targets: np.ndarray | None,
        params: Params | None = None,
        initial_params: Params | None = None,
        members: dict[str, np.ndarray] | None = None,
        provenance: dict[str, Any] | None = None,
        name: str | None = None,
        file: h5py.File | None = None,
        hashes: ContentHashes | None = None,
    ) -> None:
        self.task = task
        self.architecture = architecture
        self._probe = None if probe_inputs is None else (np.asarray(probe_inputs), np.asarray(probe_targets))
        self.provenance = provenance or {}
        self.name = name or self.provenance.get("condition", {}).get("id") or task.name
        self._params = params
        self._initial = initial_params
        self._file = file
        self._hashes = hashes
        n = len(params["W_hh"]) if params is not None else file["weights/W_hh"].shape[0]
        self._n = int(n)
        self._members = members if (members is not None or file is not None) else _default_members(self._n)
        self._trajectories: np.ndarray | None = None

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def open(cls, source: str | os.PathLike[str] | Any, *, name: str | None = None) -> Ensemble:
        """Open an ensemble file (path or binary file object) lazily; validates it first."""
        label = name or str(getattr(source, "path", source))
        f = open_ensemble_file(source, label)
        try:
            with corrupt_file_errors(label):
                prov, arch, task, hashes = cls._read_header(f, label)
        except BaseException:
            f.close()
            raise
        return cls(task=task, architecture=arch, probe_inputs=None, probe_targets=None,
                   provenance=prov, file=f, name=name, hashes=hashes)

    @staticmethod
    def _read_header(f: h5py.File, label: str) -> tuple[dict, Architecture, Any, ContentHashes | None]:
        """Provenance, architecture, task and content hashes, with every dataset's layout checked."""
        prov = read_provenance(f, label)
        try:
            task = task_from_dict(prov["task"])
            arch = Architecture.from_dict(prov["architecture"])
        except (KeyError, TypeError, DegzooError) as exc:
            raise ZooFormatError(f"{label}: provenance does not describe a task and an architecture ({exc}); "
                                 "the file is corrupt") from None
        training = prov.get("training", {})
        float_dtype = training.get("dtype", "float32") if isinstance(training, dict) else None
        if float_dtype not in ("float32", "float64"):
            raise ZooFormatError(f"{label}: provenance records training dtype {float_dtype!r}; the file is "
                                 "corrupt")
        validate_layout(f, arch, label, float_dtype)
        return prov, arch, task, read_content_hashes(f, label)

    @classmethod
    def from_arrays(
        cls,
        params: Params,
        architecture: Architecture,
        task: Any,
        probe_inputs: np.ndarray,
        probe_targets: np.ndarray,
        initial_params: Params | None = None,
        *,
        seeds: Sequence[int] | None = None,
        condition: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Ensemble:
        """An in-memory ensemble from effective weights with a leading member axis."""
        params = {k: np.asarray(params[k]) for k in PARAM_NAMES}
        n = params["W_hh"].shape[0]
        for k, shape in architecture.shapes.items():
            if params[k].shape != (n, *shape):
                raise InvalidParameterError(
                    f"from_arrays: {k} has shape {params[k].shape}, expected {(n, *shape)}"
                )
        members = _default_members(n)
        if seeds is not None:
            members["seed"] = np.asarray(seeds, np.int64)
        return cls(task=task, architecture=architecture, probe_inputs=probe_inputs,
                   probe_targets=probe_targets, params=params, initial_params=initial_params,
                   members=members, provenance={"condition": condition or {}}, name=name)

    @classmethod
    def from_result(cls, result: Any, probe: tuple[np.ndarray, np.ndarray], **kwargs: Any) -> Ensemble:
        """An in-memory ensemble straight from :func:`degzoo.training.train_ensemble`."""
        ens = cls.from_arrays(result.params, result.architecture, result.task, *probe,
                              initial_params=result.initial_params, seeds=result.seeds, **kwargs)
        ens.members.update(steps=result.steps, reached_step=result.reached_step,
                           final_loss=result.final_loss, status=result.status,
                           loss_curve=result.loss_curve)
        ens.provenance["controls"] = [c.to_dict() for c in result.controls]
        return ens

    # --- container protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> Network:
        if not isinstance(index, (int, np.integer)):
            raise TypeError("Ensemble[i] takes an integer; use subset([...]) for several members")
        i = int(index)
        if not -self._n <= i < self._n:
            raise IndexError(f"member {i} out of range for an ensemble of {self._n}")
        return Network(self, i % self._n)

    def __iter__(self) -> Iterator[Network]:
        return (Network(self, i) for i in range(self._n))

    def __repr__(self) -> str:
        return (
            f"Ensemble({self.name!r}, task={self.task!r}, members={self._n}, "
            f"hidden={self.architecture.hidden})"
        )

    def __enter__(self) -> Ensemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file handle (weights already read stay available)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- weights ------------------------------------------------------------------------------
    @property
    def params(self) -> Params:
        """Effective trained weights of all members (read on first use)."""
        if self._params is None:
            params = self._read_weights("weights")
            self._check_finite(params, np.arange(self._n))
            self._params = params
        return self._params

    @property
    def initial_params(self) -> Params:
        """Effective weights at initialisation."""
        if self._initial is None:
            if self._file is None:
                raise InvalidParameterError(f"{self.name}: this in-memory ensemble has no initial weights")
            self._initial = self._read_weights("initial")
        return self._initial

    def member_params(self, i: int, *, initial: bool = False) -> Params:
        """One member's weights; from a file this reads one chunk per matrix."""
        cached = self._initial if initial else self._params
        if cached is not None:
            return {k: cached[k][i] for k in PARAM_NAMES}
        params = self._read_weights("initial" if initial else "weights", int(i))
        if not initial:
            self._check_finite({k: v[None] for k, v in params.items()}, np.array([int(i)]))
        return params

    def _read_weights(self, group: str, member: int | None = None) -> Params:
        return read_weights(self._open_file(), group, self.name, self._hashes, member)

    def _check_finite(self, params: Params, members: np.ndarray) -> None:
        """A member recorded as converged cannot have non-finite weights: the file is corrupt."""
        if self._file is None:
            return
        status = self.status[members]
        for k, arr in params.items():
            bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1) & (status == "converged")
            if bad.any():
                raise ZooFormatError(
                    f"{self.name}: weights/{k} of member {int(members[bad][0])} is not finite, yet the "
                    "member is recorded as converged; the file is corrupt — re-download it or rebuild it"
                )

    def _open_file(self) -> h5py.File:
        if self._file is None:
            raise InvalidParameterError(f"{self.name}: the ensemble file is closed")
        return self._file

    @property
    def integrity(self) -> str:
        """What protects the values read from this ensemble's file on their own.

        ``"content-sha256"``: every value is checked against hashes recorded at write time;
        ``"chunk-checksums"``: HDF5 fletcher32 only (chunk data, not the chunk index or metadata);
        ``"none"``: nothing but a release manifest's sha256 (or an in-memory ensemble).
        """
        if self._hashes is not None:
            return "content-sha256"
        if self._file is not None and self._file["weights/W_hh"].fletcher32:  # checked on opening
            return "chunk-checksums"
        return "none"

    def verify(self) -> bool:
        """Read every value once, so a corrupt file or a non-finite converged member raises now.

        Returns True only when every value was checked against the content hashes recorded at write
        time (files written before them, like the shipped embedded and zoo-v2 shards, return False:
        their release manifest's sha256 is what protects them).
        """
        if self._file is None:
            return False
        f = self._file
        read_provenance(f, self.name)
        read_members(f, self.name, self._hashes)
        read_probe(f, self.name, self._hashes)
        read_weights(f, "initial", self.name, self._hashes)
        self._check_finite(read_weights(f, "weights", self.name, self._hashes), np.arange(self._n))
        return self._hashes is not None

    # --- probe set ----------------------------------------------------------------------------
    @property
    def probe_inputs(self) -> np.ndarray:
        """The task's standard probe set, inputs ``[n, T, I]`` (read on first use)."""
        return self._probe_arrays()[0]

    @property
    def probe_targets(self) -> np.ndarray:
        return self._probe_arrays()[1]

    def _probe_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._probe is None:
            self._probe = read_probe(self._open_file(), self.name, self._hashes)
        return self._probe

    # --- members table ------------------------------------------------------------------------
    @property
    def members(self) -> dict[str, np.ndarray]:
        """Per-member records: seed, steps, reached_step, final_loss, status, loss_curve (lazy)."""
        if self._members is None:
            self._members = read_members(self._open_file(), self.name, self._hashes)
        return self._members

    @members.setter
    def members(self, value: dict[str, np.ndarray]) -> None:
        self._members = value

    @property
    def seeds(self) -> np.ndarray:
        return self.members["seed"]

    @property
    def status(self) -> np.ndarray:
        return self.members["status"]

    @property
    def converged(self) -> np.ndarray:
        return self.members["status"] == "converged"

    @property
    def condition(self) -> dict[str, Any]:
        return self.provenance.get("condition", {})

    @property
    def controls(self) -> list[Control]:
        return [control_from_dict(c) for c in self.provenance.get("controls", [])]

    # --- dynamics -----------------------------------------------------------------------------
    def run(self, inputs: np.ndarray | None = None, *, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``[E, B, T, O]`` and rates ``[E, B, T, H]`` on ``inputs`` (default: the probe set)."""
        x = self.probe_inputs if inputs is None else inputs
        return simulate(self.params, x, self.architecture, device=device)

    def trajectories(self, inputs: np.ndarray | None = None, *, device: str = "cpu") -> np.ndarray:
        """Hidden rates ``[E, B, T, H]``, regenerated exactly from weights (cached for the probe set)."""
        if inputs is not None:
            return self.run(inputs, device=device)[1]
        if self._trajectories is None:
            self._trajectories = self.run(device=device)[1]
        return self._trajectories

    def loss(self, inputs: np.ndarray | None = None, targets: np.ndarray | None = None) -> np.ndarray:
        """Per-member MSE ``[E]`` (default: on the probe set)."""
        if (inputs is None) != (targets is None):
            raise InvalidParameterError("loss: give both inputs and targets, or neither")
        x = self.probe_inputs if inputs is None else inputs
        y = self.probe_targets if targets is None else targets
        out = self.run(x)[0]
        return ((out - y) ** 2).reshape(len(self), -1).mean(axis=1)

    # --- derived ensembles --------------------------------------------------------------------
    def subset(self, indices: Sequence[int] | np.ndarray) -> Ensemble:
        """An in-memory ensemble of the chosen members (order kept, repeats allowed)."""
        idx = np.asarray(indices, dtype=np.int64)
        return self._derive(
            {k: v[idx] for k, v in self.params.items()},
            initial={k: v[idx] for k, v in self.initial_params.items()} if self._has_initial() else None,
            members={k: v[idx] for k, v in self.members.items()},
        )

    def with_params(self, params: Params, *, name: str | None = None) -> Ensemble:
        """Same task, architecture and probe set, other weights (twins, perturbations)."""
        return self._derive(params, initial=None, members=None, name=name)

    def _derive(self, params: Params, *, initial: Params | None, members: dict | None,
                name: str | None = None) -> Ensemble:
        ens = Ensemble.from_arrays(params, self.architecture, self.task, self.probe_inputs,
                                   self.probe_targets, initial_params=initial, name=name or self.name)
        if members is not None:
            ens.members = members
        ens.provenance = dict(self.provenance)
        return ens

    def _has_initial(self) -> bool:
        return self._initial is not None or self._file is not None

    @staticmethod
    def concat(ensembles: Sequence[Ensemble], *, name: str | None = None) -> Ensemble:
        """Members of several ensembles of the same task, architecture and probe set, in order."""
        first = ensembles[0]
        for other in ensembles[1:]:
            if other.architecture != first.architecture or other.task != first.task:
                raise InvalidParameterError(
                    f"concat: {other.name} differs from {first.name} in task or architecture"
                )
            if not np.array_equal(other.probe_inputs, first.probe_inputs):
                raise InvalidParameterError(f"concat: {other.name} has a different probe set")
        params = {k: np.concatenate([e.params[k] for e in ensembles]) for k in PARAM_NAMES}
        ens = Ensemble.from_arrays(params, first.architecture, first.task, first.probe_inputs,
                                   first.probe_targets, name=name or "+".join(e.name for e in ensembles))
        keys = set.intersection(*(set(e.members) for e in ensembles))
        ens.members = {k: np.concatenate([e.members[k] for e in ensembles]) for k in keys}
        return ens

    def summary(self) -> str:
        """A few lines for ``degzoo info``."""
        status, counts = np.unique(self.status, return_counts=True)
        loss = self.members.get("final_loss", np.full(len(self), np.nan))
        lines = [
            f"ensemble   {self.name}",
            f"task       {self.task}",
            f"network    {self.architecture.kind} RNN, {self.architecture.hidden} units, "
            f"{self.architecture.n_inputs} in / {self.architecture.n_outputs} out",
            f"controls   {', '.join(str(c) for c in self.controls) or 'none'}",
            f"members    {len(self)} ({', '.join(f'{n} {s}' for s, n in zip(status, counts, strict=True))})",
            f"threshold  {self.task.mse_threshold:g}; final training loss median "
            f"{np.nanmedian(loss) if np.isfinite(loss).any() else float('nan'):.3g}",
            f"probe set  {self.probe_inputs.shape[0]} trials × {self.probe_inputs.shape[1]} steps",
            f"seeds      {self.seeds.tolist()}",
        ]
        version = self.provenance.get("degzoo_version")
        if version:
            lines.append(f"built by   degzoo {version}, torch {self.provenance.get('torch_version')}")
        return "\n".join(lines)


class Network:
    """One member of an ensemble: a view, reading its own weights only."""

    def __init__(self, ensemble: Ensemble, index: int) -> None:
        self.ensemble = ensemble
        self.index = index

    def __repr__(self) -> str:
        return f"Network({self.ensemble.name!r}, member={self.index}, seed={self.seed})"

    @property
    def params(self) -> Params:
        return self.ensemble.member_params(self.index)

    @property
    def initial_params(self) -> Params:
        return self.ensemble.member_params(self.index, initial=True)

    @property
    def architecture(self) -> Architecture:
        return self.ensemble.architecture

    @property
    def task(self) -> Any:
        return self.ensemble.task

    @property
    def seed(self) -> int:
        return int(self.ensemble.seeds[self.index])

    @property
    def status(self) -> str:
        return str(self.ensemble.status[self.index])

    def run(self, inputs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``[B, T, O]`` and rates ``[B, T, H]``."""
        x = self.ensemble.probe_inputs if inputs is None else inputs
        params = {k: v[None] for k, v in self.params.items()}
        out, rates = simulate(params, x, self.architecture)
        return out[0], rates[0]

    def trajectories(self, inputs: np.ndarray | None = None) -> np.ndarray:
        return self.run(inputs)[1]

    def to_torch(self) -> TorchRNN:
        """This member as ``torch.nn.RNN`` + ``nn.Linear`` (vanilla networks)."""
        return to_torch(self.params, self.architecture)


def _default_members(n: int) -> dict[str, np.ndarray]:
    return {
        "seed": np.arange(n, dtype=np.int64),
        "status": np.array(["converged"] * n),
        "final_loss": np.full(n, np.nan),
    }
