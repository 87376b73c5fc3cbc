"""Degeneracy metrics at every level, their registry, and ensemble-level degeneracy.

Reference metrics: ``behaviour_ood`` (σ_OOD), ``dsa`` and ``dsa_wasserstein`` (dynamics),
``weights_perm`` and ``weights_frobenius`` (weights), ``cka``, ``procrustes``, ``svcca``
(representation). The reference implementations users run today, scored through their own
packages (optional extra ``[reference]``; :mod:`degzoo.metrics.external`): ``dsa_metric_ref``
(``dsa-metric``'s DSA) and ``qc_procrustes_perm`` (``qc-procrustes``'s two-sided permutation
Procrustes; GPL-3.0, so it stays an optional extra). Baselines users reach for
(:mod:`degzoo.metrics.baselines`): ``unit_correlation``, ``sorted_weights``, ``rsa_rsatoolbox``
(optional extra ``[baselines]``), ``output_distance``, ``fixed_point_spectrum`` and
``lyapunov_spectrum``. Negative controls (``control_noise``, ``control_scale``, ``control_spectrum``,
``control_order``, each as ``<control>-<level>``; :mod:`degzoo.metrics.controls`) measure nothing.
``get("dsa")`` makes one; ``get("mypkg.mod:MyMetric")`` loads a third-party metric; a plain
``f(net_a, net_b) -> float`` is wrapped with ``get(f, level=...)``, and ``f(X, Y) -> float`` on two
networks' arrays (probe-set trajectories, ``W_hh`` or all weights) with
``from_function(f, level=..., on="trajectories" | "weights" | "params")``.
"""

from degzoo.metrics.base import INVARIANCES, LEVELS, Metric
from degzoo.metrics.baselines import (
    FixedPointSpectrum,
    LyapunovSpectrum,
    OutputDistance,
    RSAToolbox,
    SortedWeights,
    UnitCorrelation,
)
from degzoo.metrics.behaviour import BehaviourOOD
from degzoo.metrics.controls import NEGATIVE_CONTROLS, NegativeControl, control_factories, control_names
from degzoo.metrics.degeneracy import (
    Estimate,
    bootstrap_mean,
    bootstrap_pairwise,
    bootstrap_std,
    degeneracy,
    mean_off_diagonal,
)
from degzoo.metrics.dsa import DSA, DSAWasserstein
from degzoo.metrics.external import QCPermutationProcrustes, ReferenceDSA
from degzoo.metrics.feature_learning import KernelAlignment, WeightChange, kernel_alignment, weight_change
from degzoo.metrics.function import FunctionMetric, from_function
from degzoo.metrics.registry import available, get, register
from degzoo.metrics.representation import CKA, SVCCA, ProcrustesShape
from degzoo.metrics.weights import FrobeniusWeightDistance, PermutationWeightDistance

for _metric in (BehaviourOOD, DSA, DSAWasserstein, PermutationWeightDistance, FrobeniusWeightDistance,
                CKA, ProcrustesShape, SVCCA, ReferenceDSA, QCPermutationProcrustes, UnitCorrelation,
                SortedWeights, RSAToolbox, OutputDistance, FixedPointSpectrum, LyapunovSpectrum):
    register(_metric)
for _name, _factory in control_factories().items():
    register(_factory, _name)

__all__ = [
    "CKA",
    "DSA",
    "INVARIANCES",
    "LEVELS",
    "NEGATIVE_CONTROLS",
    "SVCCA",
    "BehaviourOOD",
    "DSAWasserstein",
    "Estimate",
    "FixedPointSpectrum",
    "FrobeniusWeightDistance",
    "FunctionMetric",
    "KernelAlignment",
    "LyapunovSpectrum",
    "Metric",
    "NegativeControl",
    "OutputDistance",
    "PermutationWeightDistance",
    "ProcrustesShape",
    "QCPermutationProcrustes",
    "RSAToolbox",
    "ReferenceDSA",
    "SortedWeights",
    "UnitCorrelation",
    "WeightChange",
    "available",
    "bootstrap_mean",
    "bootstrap_pairwise",
    "bootstrap_std",
    "control_names",
    "degeneracy",
    "from_function",
    "get",
    "kernel_alignment",
    "mean_off_diagonal",
    "register",
    "weight_change",
]
