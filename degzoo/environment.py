"""What decides the bits of a float32 computation on this machine, recorded with every artefact.

Training is chaotic in float32: kernels chosen at run time by CPU (torch's ATen capability, MKL and
oneDNN code paths, OpenBLAS core type) and the thread count change the last bits, and training
amplifies them. Results are bit-identical only where all of these agree; elsewhere they agree
within the tolerances stated in the README's reproducibility contract.
"""

from __future__ import annotations

import os
import platform
import re
from typing import Any

import numpy as np


def _torch_facts() -> dict[str, Any]:
    import torch

    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    return {
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_blas": blas.group(1) if blas else "unknown",
        "torch_threads": torch.get_num_threads(),
    }


def _numpy_blas() -> str:
    """numpy's own BLAS: the loaded BLAS library that numpy ships (``numpy.libs``, ``numpy/.libs``),
    not whichever one torch or another package loaded first, so the answer does not depend on import
    order (when none is numpy's, e.g. a system BLAS, the first by path)."""
    from threadpoolctl import threadpool_info

    numpy_dir = os.path.dirname(np.__file__)
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    own = [lib for lib in blas if os.path.dirname(lib.get("filepath", "")).startswith(numpy_dir)]
    candidates = sorted(own or blas, key=lambda lib: lib.get("filepath", ""))  # never load order
    if not candidates:
        return "unknown"
    lib = candidates[0]
    arch = f" {lib['architecture']}" if lib.get("architecture") else ""
    return f"{lib['internal_api']} {lib.get('version') or ''}{arch}".strip()


def _cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere): two CPUs
    with the same instruction sets can still take other MKL and oneDNN code paths."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict[str, Any]:
    """Versions, kernels and threads: everything that can change a float32 result's last bits."""
    return {
        "python": platform.python_version(),
        **_torch_facts(),
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count() or 1,
    }


#: What must agree for bits to agree. An artefact that did not record one of them (``cpu_model``
#: before 2026-12-06) is compared within tolerances, never bit for bit.
BIT_KEYS = ("torch", "torch_cpu_capability", "torch_blas", "numpy_blas", "machine", "cpu_model")


def same_bits(recorded: dict[str, Any] | None, threads_matter: bool = True) -> bool:
    """Whether a computation recorded with ``recorded`` should be bit-identical here.

    An environment that recorded none of these facts (an artefact older than this module)
    never counts as the same: its bits can be promised only within tolerances.
    """
    if not recorded:
        return False
    here = environment()
    keys = BIT_KEYS + (("torch_threads",) if threads_matter else ())
    return all(recorded.get(k) == here[k] for k in keys)
