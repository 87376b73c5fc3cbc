"""The RNN: E networks as one batched computation, and export to/from ``torch.nn.RNN``."""

from degzoo.models.architecture import PARAM_NAMES, Architecture
from degzoo.models.rnn import (
    effective,
    forward,
    forward_bptt,
    init_params,
    raw_from_effective,
    simulate,
)
from degzoo.models.torch_export import TorchRNN, from_torch, to_torch

__all__ = [
    "PARAM_NAMES",
    "Architecture",
    "TorchRNN",
    "effective",
    "forward",
    "forward_bptt",
    "from_torch",
    "init_params",
    "raw_from_effective",
    "simulate",
    "to_torch",
]
