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
from degzoo.training.trainer import TrainResult, TrainSettings, data_rng, train_ensemble

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
    "control_from_dict",
    "data_rng",
    "get_control",
    "register_control",
    "train_ensemble",
]
