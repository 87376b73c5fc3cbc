"""The dataset card (``README.md``) of a release, in the Hugging Face Hub's card format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from degzoo.zoo.dataset import PARQUET_NAME
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


def render_card(manifest: dict[str, Any]) -> str:
    """Markdown with a YAML header (license, tags, size, configs) and a table of the conditions.

    ``configs`` points ``datasets.load_dataset`` at the release's parquet of networks
    (:data:`~degzoo.zoo.dataset.PARQUET_NAME`) when the manifest lists one; the HDF5 shards are
    not loadable by ``datasets`` as rows."""
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
    if PARQUET_NAME in manifest.get("files", {}):
        header += ["configs:", "- config_name: default", "  data_files:", "  - split: train",
                   f"    path: {PARQUET_NAME}"]
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
    if PARQUET_NAME in manifest.get("files", {}):
        lines += [f"`{PARQUET_NAME}` holds one row per network (weights, condition, seed, final loss): "
                  "`datasets.load_dataset(<this repo>, revision=<tag>)` loads it.", ""]
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
    lines += ["", "## Citation", "", "If you use this zoo, cite the paper and the software (degzoo, its "
              "`CITATION.cff`):", "", CITATION]
    return "\n".join([*header, "", *lines]) + "\n"


def write_card(release_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    path = Path(release_dir) / README_NAME
    path.write_text(render_card(manifest), encoding="utf-8")
    return path
