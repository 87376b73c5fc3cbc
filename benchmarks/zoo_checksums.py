"""What the ensemble file's per-chunk checksums cost: reads with fletcher32 against reads without.

Writes the same ``[E, H, H]`` float32 weights twice, one member per chunk as ``write_ensemble``
does, once plain and once with ``fletcher32=True``, then times a whole-ensemble read and
one-member reads (HDF5's chunk cache off, so every read decodes its chunk), interleaved, and
prints the ratios.

    python benchmarks/zoo_checksums.py --members 64 --hidden 256
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def _median_ms(times: list[float]) -> float:
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    weights = np.random.default_rng(0).standard_normal(
        (args.members, args.hidden, args.hidden)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for checksum in (False, True):
            path = Path(tmp) / f"w-{checksum}.h5"
            with h5py.File(path, "w") as f:
                f.create_dataset("w", data=weights, chunks=(1, args.hidden, args.hidden), fletcher32=checksum)
            files[checksum] = h5py.File(path, "r", rdcc_nbytes=0)
        times: dict[tuple[bool, str], list[float]] = {
            (c, k): [] for c in (False, True) for k in ("all", "one")
        }
        for rep in range(args.repeats):
            for checksum, f in files.items():
                start = time.perf_counter()
                f["w"][()]
                times[(checksum, "all")].append(time.perf_counter() - start)
                start = time.perf_counter()
                f["w"][rep % args.members]
                times[(checksum, "one")].append(time.perf_counter() - start)
        for f in files.values():
            f.close()
    print(f"{args.members} x {args.hidden}x{args.hidden} float32 ({weights.nbytes / 1e6:.1f} MB), "
          f"median of {args.repeats}")
    for kind, label in (("all", "whole ensemble"), ("one", "one member")):
        plain, checked = _median_ms(times[(False, kind)]), _median_ms(times[(True, kind)])
        print(f"  {label:<15} plain {plain:8.3f} ms   fletcher32 {checked:8.3f} ms   "
              f"ratio {checked / plain:.2f}")


if __name__ == "__main__":
    main()
