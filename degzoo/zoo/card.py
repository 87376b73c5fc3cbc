"""The dataset card (``README.md``) of a release, in the Hugging Face Hub's card format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from degzoo.models import PARAM_NAMES
from degzoo.zoo.dataset import PARQUET_NAME
from degzoo.zoo.format import MEMBER_FIELDS
from degzoo.zoo.manifest import README_NAME

CITATION = """```bibtex
@inproceedings{huang2025degeneracy,
  title     = {Measuring and Controlling Solution Degeneracy across Task-Trained Recurrent Neural Networks},
  author    = {Huang, Ann and Singh, Satpreet H. and Martinelli, Flavio and Rajan, Kanaka},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2025},
  eprint    = {2410.03972},
  archivePrefix = {arXiv}
}
```"""


def _size_category(n_networks: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n_networks < limit:
            return label
    return "100K<n<1M"


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases (the Hub's card parser reads each config on its own), with
    each config's ``features`` on one line (flow style), so a config per condition stays short."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Flow(list):
    """A list written in YAML flow style."""


_PlainDumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


_MATRICES = ("W_in", "W_hh", "W_out")
_MEMBER_TYPES = {"seed": "int64", "steps": "int64", "reached_step": "int64", "final_loss": "float64",
                 "status": "string", "loss_curve": ["float64"]}
_COLUMNS = {
    "W_in": "input weights, H × I (a list of H rows)",
    "W_hh": "recurrent weights, H × H",
    "b": "recurrent bias, H",
    "W_out": "readout weights, O × H",
    "b_out": "readout bias, O",
    "seed": "the member's seed (initial weights and training batches derive from it)",
    "steps": "training steps taken",
    "reached_step": "step at which the training loss first fell below the threshold (-1: never)",
    "final_loss": "training MSE of the member's last epoch",
    "status": "converged | not_converged | diverged",
    "loss_curve": "mean training MSE per epoch (NaN after the member stopped)",
}
_MODEL = """## The networks

Every member is a recurrent network with H hidden units, I inputs and O outputs, started from
h_0 = 0. Vanilla conditions (no `mup` control), as `torch.nn.RNN` with tanh:

    h_t = tanh(W_hh h_{t-1} + W_in x_t + b),    y_t = W_out h_t + b_out

µP conditions (`mup` control, time constant τ): a leaky rate network whose rates r_t = tanh(h_t) are
what metrics compare,

    h_t = (1 - τ) h_{t-1} + τ (W_hh r_{t-1} + W_in x_t + b),    y_t = W_out r_t + b_out

Stored weights are the effective matrices of these equations (µP's J/H and W/(γH) included), so
every condition is compared like with like. Trajectories are not stored: they are regenerated
exactly from the weights and each shard's probe set (`degzoo.zoo.load(...).trajectories()`)."""


def _features(float_dtype: str) -> list[dict[str, Any]]:
    """The ``datasets`` features of one row of an ensemble shard read by the HDF5 loader: each
    member's trained and initial weights (nested lists, so shards of any width load together)
    and its row of the members table; the probe set and provenance are left out (not per member)."""
    weights = [{"name": k, "list": {"list": float_dtype} if k in _MATRICES else float_dtype}
               for k in PARAM_NAMES]
    members = [{"name": k, ("list" if isinstance(t, list) else "dtype"): t[0] if isinstance(t, list) else t}
               for k, t in _MEMBER_TYPES.items() if k in MEMBER_FIELDS]
    return [{"name": "weights", "struct": weights}, {"name": "initial", "struct": [dict(w) for w in weights]},
            {"name": "members", "struct": members}]


def _configs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's ``configs``: the parquet of networks when the release has one, else the HDF5 shards
    themselves (all of them as ``default``, and one config per condition)."""
    if PARQUET_NAME in manifest.get("files", {}):
        return [{"config_name": "default", "data_files": [{"split": "train", "path": PARQUET_NAME}]}]
    conditions = manifest["conditions"]
    float_dtype = "float64" if any(c.get("training", {}).get("dtype") == "float64" for c in conditions) \
        else "float32"
    features = _Flow(_features(float_dtype))
    configs = [{"config_name": "default", "default": True,
                "data_files": [{"split": "train", "path": "ensembles/*.h5"}], "features": features}]
    configs += [{"config_name": c["id"], "data_files": [{"split": "train", "path": c["file"]}],
                 "features": features} for c in conditions]
    return configs


def _columns_section(manifest: dict[str, Any]) -> list[str]:
    """What each column of ``datasets.load_dataset`` holds, for the release's kind of config."""
    if PARQUET_NAME in manifest.get("files", {}):
        lines = [
            "## Columns",
            "",
            f"`datasets.load_dataset(<this repo>, revision=<tag>, split=\"train\")` reads `{PARQUET_NAME}`: "
            "one row per network, with",
            "",
            "- `condition`: the condition id (a row of the table above); `member`: its index in the shard",
            "- `task`, `task_params` (JSON: the task's parameters), `controls` (JSON list), `hidden` (H)",
            *(f"- `{k}`: {_COLUMNS[k]}" for k in ("seed", "status", "final_loss")),
            *(f"- `{k}`: {_COLUMNS[k]} (trained)" for k in PARAM_NAMES),
        ]
    else:
        lines = [
            "## Columns",
            "",
            "`datasets.load_dataset(<this repo or folder>, split=\"train\")` reads the HDF5 shards "
            "(needs a `datasets` version with its HDF5 loader; tested with 5.2): one row per network, "
            "the shards in the order of their file names; `load_dataset(..., \"<condition>\")` reads one "
            "condition. Each row has",
            "",
            *(f"- `weights.{k}`: {_COLUMNS[k]} (trained)" for k in PARAM_NAMES),
            "- `initial.<name>`: the same weights at initialisation",
            *(f"- `members.{k}`: {_COLUMNS[k]}" for k in MEMBER_FIELDS),
            "",
            "Task, controls and probe set are per condition: see the table above, `manifest.json`, or "
            "`degzoo.zoo.load(...)`.",
        ]
    return [*lines, ""]


def render_card(manifest: dict[str, Any]) -> str:
    """Markdown with a YAML header (license, tags, size, configs) and a table of the conditions.

    ``configs`` point ``datasets.load_dataset`` at the release's parquet of networks
    (:data:`~degzoo.zoo.dataset.PARQUET_NAME`) when the manifest lists one, else at the HDF5 shards
    with explicit features (the per-member datasets only: the HDF5 loader cannot turn the scalar
    provenance or the probe set into rows). The card describes those columns and the equations."""
    conditions = manifest["conditions"]
    n_networks = sum(c["members"] for c in conditions)
    header = [
        "---",
        "license: mit",
        "tags:",
        "- recurrent-neural-networks",
        "- solution-degeneracy",
        "- model-zoo",
        "- neuroscience",
        "size_categories:",
        f"- {_size_category(n_networks)}",
    ]
    configs = yaml.dump({"configs": _configs(manifest)}, Dumper=_PlainDumper, sort_keys=False, width=100_000)
    header += configs.splitlines()
    header.append("---")
    build = manifest.get("build", {})
    lines = [
        f"# degzoo release `{manifest['release']}`",
        "",
        f"{n_networks} trained RNNs in {len(conditions)} ensembles, built with degzoo "
        f"{manifest['degzoo_version']} from the recipe recorded in `manifest.json`. Each ensemble is "
        "one HDF5 file (trained and initial weights, probe set, loss curves, provenance); load with "
        "`degzoo.zoo.load(...)`. `manifest.json` lists every file's sha256.",
        "",
    ]
    if build:
        env = build.get("environment") or {}
        machine = build.get("machine") or f"{env.get('machine')}, {env.get('cpu_count')} cores, " \
            f"{env.get('torch_cpu_capability')} kernels, {env.get('torch_threads')} torch threads"
        lines += [
            f"Build: {build.get('cpu_seconds_sum')} s of training summed over conditions, on {machine} "
            f"with torch {env.get('torch', build.get('torch_version'))}; the run that finished the "
            f"release took {build.get('wall_seconds')} s wall (a build done in pieces or resumed "
            "records its last run only).",
            "",
        ]
    repacked = manifest.get("repacked_from")
    if repacked:
        lines += [f"Re-encoded losslessly (`degzoo zoo repack`, degzoo {repacked.get('degzoo_version')}) "
                  f"from the release whose manifest has sha256 `{repacked.get('manifest_sha256')}`: every "
                  "array and row was checked unchanged: results that cite that manifest hold for this one.",
                  ""]
    notes = manifest.get("recipe", {}).get("release", {}).get("notes")
    if notes:
        lines += ["## How it was built", "", notes.strip(), ""]
    lines += [
        "| condition | task | controls | hidden | members | converged | median final loss | threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in conditions:
        task = ", ".join(f"{k}={v}" for k, v in c["task"].items() if k != "name")
        controls = ", ".join(
            c_["name"] + "(" + ", ".join(f"{k}={v}" for k, v in c_.items() if k != "name") + ")"
            for c_ in c.get("controls", [])
        ) or "—"
        loss = c.get("final_loss_median")
        loss_text = "—" if loss is None else f"{loss:.3g}"
        lines.append(
            f"| `{c['id']}` | {c['task']['name']} ({task}) | {controls} | {c['hidden']} | {c['members']} "
            f"| {c.get('converged', '?')} | {loss_text} | {c.get('threshold')} |"
        )
    ladders = manifest.get("ladders", [])
    if ladders:
        lines += ["", "Ladders (ordered series of conditions along one factor):", ""]
        lines += [f"- **{lad['name']}** ({lad['factor']}): {' → '.join(lad['conditions'])}"
                  for lad in ladders]
    lines += ["", *_columns_section(manifest), _MODEL, "", "## Citation", "",
              "If you use this zoo, cite the paper and the software (degzoo, its "
              "`CITATION.cff`):", "", CITATION]
    return "\n".join([*header, "", *lines]) + "\n"


def write_card(release_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    path = Path(release_dir) / README_NAME
    path.write_text(render_card(manifest), encoding="utf-8")
    return path
