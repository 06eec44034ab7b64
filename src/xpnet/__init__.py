"""xpnet: dense neural networks with batched backpropagation written once against the Python
array API standard, running on NumPy, CuPy, PyTorch and array-api-strict."""

__version__ = "0.1.0"

from . import (  # noqa: E402
    activations,
    backend,
    comm,
    datasets,
    init,
    losses,
    metrics,
    optim,
    plot,
    precision,
    schedules,
)
from .backend import Backend, BackendError, resolve  # noqa: E402
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint  # noqa: E402
from .cross_validation import cross_validate  # noqa: E402
from .errors import DataError, ModelFileError, TrainingDiverged  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .io import save  # noqa: E402
from .layers import Dense, Dropout  # noqa: E402
from .loading import load  # noqa: E402
from .network import Network  # noqa: E402
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop  # noqa: E402
from .preprocess import Scaler  # noqa: E402
from .train import evaluate, fit  # noqa: E402

__all__ = [
    "Adagrad", "Adam", "AdamW", "ModelCheckpoint", "RMSprop", "Backend", "BackendError",
    "Callback", "DataError", "Dense", "Dropout", "EarlyStopping", "History", "ModelFileError",
    "Network", "SGD", "Scaler", "TrainingDiverged", "activations", "backend", "comm",
    "cross_validate", "datasets", "evaluate", "fit", "gradcheck", "init", "load", "losses",
    "metrics", "optim", "plot", "precision", "resolve", "save", "schedules", "__version__",
]
