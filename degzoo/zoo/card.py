"""The dataset card (``README.md``) of a release, in the Hugging Face Hub's card format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from degzoo.zoo.manifest import README_NAME


def _size_category(n_networks: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n_networks < limit:
            return label
    return "100K<n<1M"


def render_card(manifest: dict[str, Any]) -> str:
    """Markdown with a YAML header (license, tags, size, configs) and a table of the conditions."""
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
        "configs:",
        "- config_name: default",
        "  data_files: ensembles/*.h5",
        "---",
    ]
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
            f"Build: {build.get('wall_seconds')} s wall, {build.get('cpu_seconds_sum')} s of training "
            f"summed over conditions, on {machine} with torch "
            f"{env.get('torch', build.get('torch_version'))}.",
            "",
        ]
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
    return "\n".join([*header, "", *lines]) + "\n"


def write_card(release_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    path = Path(release_dir) / README_NAME
    path.write_text(render_card(manifest), encoding="utf-8")
    return path
