"""Flip every byte of a fresh ensemble file (or of a shipped shard) and count what a reader sees.

Each flip ends one of four ways: ``detected`` (a one-line ZooFormatError), ``same`` (every value read
is identical: the byte was padding, free space or redundant), ``silent`` (a value changed with no
error: the defect this guards against), ``unclear`` (another exception), or ``crashed`` / ``hung``
(the HDF5 library died or looped; the sweep restarts in a new process after that byte). Prints the
counts and the silent positions.

    python benchmarks/zoo_byteflip.py                       # a fresh 3-member, 4-unit file
    python benchmarks/zoo_byteflip.py --file SHARD.h5 --step 7
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def fresh_file(folder: Path) -> Path:
    """The tests' tiny ensemble file: 3 members of 4 units, a 2-trial probe set."""
    from degzoo.models import Architecture
    from degzoo.tasks import get_task
    from degzoo.training import TrainSettings, train_ensemble
    from degzoo.zoo import write_ensemble

    task = get_task("flipflop", bits=1, trial_length=10)
    settings = TrainSettings(lr=1e-2, batch_size=4, max_steps=20, steps_per_epoch=10)
    result = train_ensemble(task, Architecture(1, 1, hidden=4), [1, 2, 3], settings, progress=False)
    return write_ensemble(folder / "fresh.h5", result, task.probe(n=2), condition={"id": "fresh"})


def everything(source: object) -> dict:
    """Every value a reader can get from an ensemble file."""
    from degzoo.zoo import Ensemble

    with Ensemble.open(source, name="sweep") as ens:
        got = {"provenance": json.dumps(ens.provenance, sort_keys=True), "verified": ens.verify(),
               "member1": {k: v.tobytes() for k, v in ens.member_params(1).items()}}
        for group, params in (("weights", ens.params), ("initial", ens.initial_params)):
            got.update({f"{group}/{k}": (v.dtype.str, v.shape, v.tobytes()) for k, v in params.items()})
        got.update({f"members/{k}": (v.dtype.str, v.shape, v.tobytes()) for k, v in ens.members.items()})
        got["probe"] = (ens.probe_inputs.tobytes(), ens.probe_targets.tobytes())
    return got


def worker(path: Path, start: int, step: int, log: Path) -> None:
    """Sweep from ``start``, appending ``position outcome`` lines to ``log`` as it goes."""
    from degzoo.errors import ZooFormatError

    data = path.read_bytes()
    reference = everything(io.BytesIO(data))
    with open(log, "a") as out:
        for pos in range(start, len(data), step):
            out.write(f"{pos} ")
            out.flush()
            damaged = bytearray(data)
            damaged[pos] ^= 0xFF
            try:
                outcome = "same" if everything(io.BytesIO(bytes(damaged))) == reference else "silent"
            except ZooFormatError:
                outcome = "detected"
            except Exception as exc:  # anything but a clear error is a defect too
                outcome = f"unclear:{type(exc).__name__}"
            out.write(f"{outcome}\n")
            out.flush()


def _run_worker(path: Path, start: int, step: int, log: Path, hang_seconds: float) -> str:
    """Run a worker from ``start`` until it finishes, dies (``crashed``) or makes no progress for
    ``hang_seconds`` (``hung``: killed)."""
    proc = subprocess.Popen([sys.executable, __file__, "--step", str(step), "--worker", str(path),
                             str(start), str(log)])
    size, since = -1, time.monotonic()
    while proc.poll() is None:
        time.sleep(0.5)
        now = log.stat().st_size if log.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since > hang_seconds:
            proc.kill()
            proc.wait()
            return "hung"
    return "crashed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="ensemble file to damage (default: a fresh tiny one)")
    parser.add_argument("--step", type=int, default=1, help="flip every STEP-th byte (default: every one)")
    parser.add_argument("--hang-seconds", type=float, default=30.0,
                        help="a position still unread after this long counts as hung (default: 30)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), int(args.worker[1]), args.step, Path(args.worker[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or fresh_file(Path(tmp))
        log = Path(tmp) / "log.txt"
        start = 0
        size = path.stat().st_size
        while start < size:
            stopped = _run_worker(path, start, args.step, log, args.hang_seconds)
            lines = log.read_text().splitlines()
            last = lines[-1].split() if lines else []
            if len(last) == 2 or not last:
                break
            with open(log, "a") as out:  # the worker died (or hung) inside this position
                out.write(f"{stopped}\n")
            start = int(last[0]) + args.step
        outcomes = dict(line.split() for line in log.read_text().splitlines())
    counts = Counter(outcomes.values())
    silent = [p for p, o in outcomes.items() if o == "silent"]
    print(f"{path.name}: {size} bytes, {len(outcomes)} positions flipped (every {args.step}): "
          + ", ".join(f"{n} {k}" for k, n in counts.most_common()))
    print(f"silent changes: {len(silent)}" + (f" at {', '.join(silent[:20])}" if silent else ""))


if __name__ == "__main__":
    main()
