"""Batched ensemble trainer, convergence rule and controls."""

from degzoo.training.controls import (
    L1,
    AuxiliaryOutput,
    Control,
    InitGain,
    LowRank,
    MuP,
    NuclearNorm,
    Width,
    available_controls,
    control_from_dict,
    get_control,
    register_control,
)
from degzoo.training.trainer import (
    TrainResult,
    TrainSettings,
    check_training_memory,
    data_rng,
    train_ensemble,
    training_memory,
)

__all__ = [
    "L1",
    "AuxiliaryOutput",
    "Control",
    "InitGain",
    "LowRank",
    "MuP",
    "NuclearNorm",
    "TrainResult",
    "TrainSettings",
    "Width",
    "available_controls",
    "check_training_memory",
    "control_from_dict",
    "data_rng",
    "get_control",
    "register_control",
    "train_ensemble",
    "training_memory",
]
