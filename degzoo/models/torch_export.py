"""Exact conversion of one vanilla member to and from ``torch.nn.RNN`` + ``torch.nn.Linear``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from degzoo.errors import InvalidParameterError
from degzoo.models.architecture import Architecture


class TorchRNN(nn.Module):
    """A single-layer tanh ``nn.RNN`` (batch first, h_0 = 0) followed by a linear readout."""

    def __init__(self, rnn: nn.RNN, readout: nn.Linear) -> None:
        super().__init__()
        self.rnn = rnn
        self.readout = readout

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs [B, T, I]`` → outputs ``[B, T, O]`` and hidden states ``[B, T, H]``."""
        states, _ = self.rnn(inputs)
        return self.readout(states), states


def to_torch(params: Mapping[str, np.ndarray], arch: Architecture) -> TorchRNN:
    """Build a :class:`TorchRNN` holding one member's effective weights (vanilla only)."""
    if arch.kind != "vanilla":
        raise InvalidParameterError(
            "to_torch: only 'vanilla' networks map onto torch.nn.RNN; a 'mup' network is a leaky "
            "rate network — run it with degzoo.models.forward instead"
        )
    dtype = torch.as_tensor(np.asarray(params["W_hh"])).dtype
    rnn = nn.RNN(arch.n_inputs, arch.hidden, nonlinearity="tanh", batch_first=True, dtype=dtype)
    readout = nn.Linear(arch.hidden, arch.n_outputs, dtype=dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.as_tensor(np.asarray(params["W_in"])))
        rnn.weight_hh_l0.copy_(torch.as_tensor(np.asarray(params["W_hh"])))
        rnn.bias_ih_l0.copy_(torch.as_tensor(np.asarray(params["b"])))
        rnn.bias_hh_l0.zero_()
        readout.weight.copy_(torch.as_tensor(np.asarray(params["W_out"])))
        readout.bias.copy_(torch.as_tensor(np.asarray(params["b_out"])))
    return TorchRNN(rnn, readout)


def from_torch(model: TorchRNN | tuple[nn.RNN, nn.Linear]) -> tuple[dict[str, np.ndarray], Architecture]:
    """Read one member's effective weights back from ``nn.RNN`` + ``nn.Linear``."""
    rnn, readout = (model.rnn, model.readout) if isinstance(model, TorchRNN) else model
    if rnn.num_layers != 1 or rnn.nonlinearity != "tanh" or rnn.bidirectional:
        raise InvalidParameterError(
            "from_torch: need a single-layer, unidirectional tanh nn.RNN; got "
            f"num_layers={rnn.num_layers}, nonlinearity={rnn.nonlinearity!r}, "
            f"bidirectional={rnn.bidirectional}"
        )
    with torch.no_grad():
        bias = torch.zeros(rnn.hidden_size, dtype=rnn.weight_hh_l0.dtype)
        if rnn.bias:
            bias = rnn.bias_ih_l0 + rnn.bias_hh_l0
        out_bias = readout.bias if readout.bias is not None else torch.zeros(readout.out_features)
        params = {
            "W_in": rnn.weight_ih_l0.numpy().copy(),
            "W_hh": rnn.weight_hh_l0.numpy().copy(),
            "b": bias.numpy().copy(),
            "W_out": readout.weight.numpy().copy(),
            "b_out": out_bias.numpy().copy(),
        }
    arch = Architecture(n_inputs=rnn.input_size, n_outputs=readout.out_features, hidden=rnn.hidden_size)
    return params, arch
