"""Figures of the report: matplotlib (Agg backend) rendered to PNG, embedded as base64 data URIs.

Everything here works from the JSON-serialisable ladder data of
:func:`degzoo.benchmark.report.compute_ladder_degeneracy`; nothing touches the zoo.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from degzoo.errors import InvalidParameterError

VERDICT_COLOURS = {
    "reproduces": "#1a7f37",
    "opposite": "#cf222e",
    "inconclusive": "#6e7781",
    "n/a": "#6e7781",
}
LEVEL_TITLES = {
    "behaviour": "behaviour (σ_OOD)",
    "dynamics": "dynamics (mean distance)",
    "weights": "weights (mean distance)",
    "representation": "representation",
}
ARROWS = {-1: "↓", 1: "↑", 0: "–"}
PALETTE = ["#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a", "#e16f24", "#116329"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidParameterError(
            "the report's figures need matplotlib: pip install 'degzoo[plots]'"
        ) from None
    plt.rcParams.update({
        "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8,
        "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
        "figure.dpi": 100, "savefig.dpi": 110,
    })
    return plt


def to_data_uri(fig: Any) -> str:
    """PNG of a matplotlib figure as a ``data:image/png;base64,...`` URI (and close it)."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plain_ticks(axis: Any) -> None:
    """Tick labels with 3 significant digits and no offset text (it collides with annotations)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))


def _fmt_value(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:g}"


def ladder_figure(ladder: Mapping[str, Any], conditions: Mapping[str, Any],
                  metrics: Sequence[Mapping[str, Any]]) -> str:
    """One row of panels, one per metric: degeneracy (with its CI) against the ladder's value.

    Markers are filled where the estimate uses converged members only and hollow where it fell
    back to unconverged members; each panel's title carries the paper's expected direction and
    the verdict colour, and the panel shows Spearman's ρ with its bootstrap CI.
    """
    plt = _pyplot()
    n = len(metrics)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.7), squeeze=False)
    x = np.arange(len(ladder["conditions"]))
    labels = [_fmt_value(v) for v in ladder["values"]]
    for ax, metric in zip(axes[0], metrics, strict=True):
        name = metric["name"]
        stats = ladder.get("levels", {}).get(name, {})
        verdict = stats.get("verdict", "n/a")
        colour = VERDICT_COLOURS.get(verdict, "#6e7781")
        vals, lows, highs, filled = [], [], [], []
        for cid in ladder["conditions"]:
            cond = conditions.get(cid, {})
            est = cond.get("levels", {}).get(name, {}).get("estimate")
            if est is None:
                vals.append(np.nan)
                lows.append(np.nan)
                highs.append(np.nan)
            else:
                vals.append(est["value"])
                lows.append(est["low"])
                highs.append(est["high"])
            filled.append(bool(cond.get("converged_only", False)))
        vals_a, lo_a, hi_a = np.array(vals), np.array(lows), np.array(highs)
        ok = np.isfinite(vals_a)
        if ok.any():
            ax.plot(x[ok], vals_a[ok], "-", color=colour, lw=1.2, alpha=0.7, zorder=1)
            err = np.vstack([vals_a - lo_a, hi_a - vals_a])
            for i in np.flatnonzero(ok):
                ax.errorbar(x[i], vals_a[i], yerr=err[:, i : i + 1], fmt="o", ms=5, capsize=3,
                            color=colour, mfc=colour if filled[i] else "white", zorder=2)
        else:
            ax.text(0.5, 0.5, "no estimate", transform=ax.transAxes, ha="center", va="center",
                    color="#6e7781")
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.4, len(x) - 0.6)
        ax.set_xlabel(ladder.get("value_label") or ladder["factor"].replace("_", " "))
        _plain_ticks(ax.yaxis)
        exp = stats.get("expected")
        expected = f" · paper {ARROWS.get(exp, '–')}" if exp is not None else ""
        ax.set_title(f"{LEVEL_TITLES.get(metric['level'], metric['level'])} [{name}]{expected}",
                     color="#24292f", pad=16, fontsize=9)
        rho = stats.get("spearman")
        text = f"ρ = {rho['value']:+.2f} [{rho['low']:+.2f}, {rho['high']:+.2f}]" if rho else "ρ n/a"
        ax.text(1.0, 1.02, f"{text} · {verdict}", transform=ax.transAxes, va="bottom",
                ha="right", fontsize=7.5, color=colour, fontweight="bold")
        ax.margins(y=0.25)
        ax.grid(axis="y", alpha=0.25)
    fig.tight_layout()
    return to_data_uri(fig)


def classical_mds(dist: np.ndarray, dims: int = 2) -> tuple[np.ndarray, float]:
    """Classical (Torgerson) MDS of a distance matrix: coordinates ``[n, dims]`` and the share of
    the positive eigenvalue mass they explain (1.0 for a Euclidean configuration in ``dims``)."""
    d = np.asarray(dist, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise InvalidParameterError(f"classical_mds: need a square matrix, got {d.shape}")
    n = d.shape[0]
    d = 0.5 * (d + d.T)
    j = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * j @ (d**2) @ j
    evals, evecs = np.linalg.eigh(b)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    pos = np.clip(evals, 0, None)
    coords = evecs[:, :dims] * np.sqrt(pos[:dims])
    if coords.shape[1] < dims:
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    total = pos.sum()
    return coords, float(pos[:dims].sum() / total) if total > 0 else 1.0


def mds_figure(panels: Sequence[Mapping[str, Any]]) -> str:
    """A row of MDS maps. Each panel: ``title``, ``groups`` (condition labels, in legend order),
    ``coords [n, 2]``, ``labels`` (group index per point), optional ``note``."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.7 * n, 3.3), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        coords = np.asarray(panel["coords"], dtype=np.float64)
        labels = np.asarray(panel["labels"], dtype=int)
        for g, group in enumerate(panel["groups"]):
            pts = coords[labels == g]
            ax.scatter(pts[:, 0], pts[:, 1], s=22, color=PALETTE[g % len(PALETTE)], label=group,
                       alpha=0.85, edgecolor="white", linewidth=0.5)
        ax.set_title(panel["title"])
        ax.set_aspect("equal", adjustable="datalim")
        for axis in (ax.xaxis, ax.yaxis):  # few ticks: long labels (weight distances) must not touch
            _plain_ticks(axis)
            axis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
        ax.tick_params(labelsize=7)
        if panel.get("note"):
            ax.set_xlabel(panel["note"], fontsize=7.5, color="#57606a")
        ax.grid(alpha=0.2)
    groups = [list(p["groups"]) for p in panels]
    if all(g == groups[0] for g in groups):
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), frameon=False,
                   fontsize=8, handletextpad=0.2, columnspacing=1.2)
    else:
        for ax in axes[0]:
            ax.legend(fontsize=7, loc="best", frameon=False, handletextpad=0.2)
        fig.tight_layout()
    return to_data_uri(fig)
