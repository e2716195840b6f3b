"""Base networks: MLPs (``networks.mlp``), convolutional/residual DAGs (``networks.cnn``)
and PyTorch modules read through ``torch.fx`` (``networks.torch_import``).

Every base network exposes ``forward(w_node, x_node)``, ``n_params``, ``d``, ``c``,
``bias``, ``activation``, ``exact`` and ``describe()``; the independent references of
``zoo.references`` (``network_forward``/``network_grad``) compute its outputs and the
gradient of its squared loss from the mathematics.
"""

from .cnn import (
    Act,
    AvgPool,
    Conv,
    ConvNet,
    Dense,
    Flatten,
    MaxPool,
    Residual,
    parse_cnn,
    sequential,
)
from .mlp import MLP, NetworkSpecError, parse_network


def from_torch(module: object, example_input: object) -> ConvNet:
    """Read a PyTorch ``nn.Module`` into a base network (see ``networks.torch_import``)."""
    from .torch_import import from_torch as _from_torch

    return _from_torch(module, example_input)


__all__ = [
    "MLP", "Act", "AvgPool", "Conv", "ConvNet", "Dense", "Flatten", "MaxPool",
    "NetworkSpecError", "Residual", "from_torch", "parse_cnn", "parse_network", "sequential",
]
