"""scikit-learn estimators read back from the xpnet model files their ``save`` wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .classifier import MLPClassifier
from .estimator import BaseMLP
from .regressor import MLPRegressor


def load(path: str | Path, backend: str = "auto", device: Any = None) -> BaseMLP:
    """An estimator saved with [`MLPClassifier.save`][xpnet.sklearn.estimator.BaseMLP.save] or
    [`MLPRegressor.save`][xpnet.sklearn.estimator.BaseMLP.save]."""
    from ..errors import ModelFileError
    from ..loading import load_with_header

    net, header = load_with_header(path, backend=backend, device=device)
    record = header.get("estimator")
    if not isinstance(record, dict) or record.get("kind") not in ("MLPClassifier",
                                                                   "MLPRegressor"):
        raise ModelFileError(f"{path}: an xpnet model, not a saved scikit-learn estimator")
    cls = MLPClassifier if record["kind"] == "MLPClassifier" else MLPRegressor
    known = cls().get_params()
    params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in record["params"].items() if k in known}
    est = cls(**params)
    est._adopt(net, record)
    return est
