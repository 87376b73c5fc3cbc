"""``degzoo control evaluate|reference|show|budgets``: the control track from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from degzoo.cli._args import parse_control, parse_value
from degzoo.errors import InvalidParameterError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("control", help="control track: degeneracy of a training intervention vs baseline")
    csub = p.add_subparsers(dest="control_command", metavar="CONTROL_COMMAND", required=True)

    e = csub.add_parser(
        "evaluate",
        help="train baseline and method ensembles and compare their degeneracy",
        description="Trains baseline and intervened ensembles from the same seeds on the budget's "
        "conditions, checks matched task performance, and reports the change in degeneracy at the "
        "behaviour, dynamics and weight levels with paired bootstrap CIs.",
    )
    e.add_argument("--method", required=True,
                   help="a registered control (l1, nuclear, width, mup, aux) or module:attr of a "
                   "degzoo.training.Control subclass, instance or factory")
    e.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="a parameter of the method, e.g. --param weight=1e-5 (repeatable)")
    _common(e)
    e.add_argument("--label", help="name used in the result file (default: the method's name)")
    e.set_defaults(run=run_evaluate)

    r = csub.add_parser("reference", help="run the reference controls (L1, nuclear norm, width, γ)")
    r.add_argument("--only", help="comma-separated subset, e.g. l1,width")
    _common(r)
    r.set_defaults(run=run_reference)

    s = csub.add_parser("show", help="print the table of a control result file")
    s.add_argument("result", type=Path, help="a control-track result file (JSON)")
    s.add_argument("--references", type=Path, help="folder of reference-control results")
    s.set_defaults(run=run_show)

    b = csub.add_parser("budgets", help="list the budgets and the reference controls")
    b.set_defaults(run=run_budgets)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", default="small", help="small (minutes on 2 CPU cores) or full (paper scale)")
    p.add_argument("--baseline", action="append", default=[], metavar="NAME[:k=v,...]",
                   help="a control applied to both arms, e.g. mup:gamma=1,tau=0.5 (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="K=V", dest="settings",
                   help="override a training setting of every condition, e.g. --set lr=3e-2")
    p.add_argument("--out", type=Path, default=Path("control-results"),
                   help="folder for the result JSON, checkpoints and the baseline cache")
    p.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler")
    p.add_argument("--cluster", help="start a Dask LocalCluster: local:N")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--references", type=Path,
                   help="folder of reference-control results to show next to the method "
                   "(default: the ones shipped with degzoo, if any)")
    p.add_argument("--no-cache", action="store_true", help="retrain the baseline even if cached")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _kv(items: list[str], what: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"{what} {item!r}: write it as key=value")
        out[key.strip().replace("-", "_")] = parse_value(value.strip())
    return out


def _baseline(items: list[str]) -> list[dict]:
    return [{"name": name, **params} for name, params in map(parse_control, items)]


def _kwargs(args: argparse.Namespace) -> dict:
    return {
        "budget": args.budget, "out_dir": args.out, "workers": args.workers,
        "progress": not args.quiet, "baseline": _baseline(args.baseline),
        "training": _kv(args.settings, "--set"), "device": args.device,
        "scheduler": args.scheduler, "cluster": args.cluster, "cache": not args.no_cache,
    }


def run_evaluate(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.benchmark.control import format_table, run_control_track

    try:
        result = run_control_track(args.method, params=_kv(args.param, "--param"), label=args.label,
                                   **_kwargs(args))
    except KeyboardInterrupt:
        print(f"interrupted: training checkpoints are kept in {args.out}; rerun to resume", file=sys.stderr)
        return 130
    refs = _references(result, args.references)
    print(format_table(result, refs))
    return 0


def run_reference(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.benchmark.control import format_table, run_reference_controls

    names = [n.strip() for n in args.only.split(",")] if args.only else None
    kwargs = _kwargs(args)
    baseline, training = kwargs.pop("baseline"), kwargs.pop("training")
    if baseline or training:
        raise InvalidParameterError("reference controls fix their own baseline and settings; "
                                    "drop --baseline/--set")
    results = run_reference_controls(names=names, **kwargs)
    for result in results.values():
        print(format_table(result))
        print()
    return 0


def run_show(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.benchmark.control import format_table

    try:
        result = json.loads(args.result.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(f"{args.result}: cannot read a result file ({exc})") from None
    if result.get("kind") != "control":
        raise InvalidParameterError(f"{args.result}: not a control result (kind {result.get('kind')!r})")
    refs = _references(result, args.references)
    print(format_table(result, refs))
    return 0


def _references(result: dict, directory: Path | None) -> dict:
    from degzoo.benchmark.control import load_reference_results, track_info

    info = track_info(result)
    refs = load_reference_results(str(info.get("budget")), directory)
    refs.pop(str(info.get("label")), None)  # the method itself
    return refs


def run_budgets(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.benchmark.control import BUDGETS, REFERENCE_CONTROLS

    for name, budget in BUDGETS.items():
        conds = ", ".join(f"{c.id} ({c.members}×{c.hidden})" for c in budget.conditions)
        print(f"{name:<6} {budget.description or ''}\n       conditions: {conds}")
    print("\nreference controls:")
    for label, ref in REFERENCE_CONTROLS.items():
        params = ", ".join(f"{k}={v}" for k, v in ref.get("params", {}).items())
        extra_s = f"; baseline {ref['baseline']}" if ref.get("baseline") else ""
        extra_s += f"; training {ref['training']}" if ref.get("training") else ""
        print(f"  {label:<8} {ref['method']}({params}){extra_s}")
    return 0
