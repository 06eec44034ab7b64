"""xpnet: dense neural networks with batched backpropagation written once against the Python
array API standard, running on NumPy, CuPy, PyTorch and array-api-strict."""

from . import activations, backend, init, losses, optim
from .backend import Backend, BackendError, resolve
from .gradcheck import gradcheck
from .layers import Dense, Dropout
from .network import Network
from .optim import SGD, Adam

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "Backend",
    "BackendError",
    "Dense",
    "Dropout",
    "Network",
    "SGD",
    "activations",
    "backend",
    "gradcheck",
    "init",
    "losses",
    "optim",
    "resolve",
    "__version__",
]
