"""Print the ONNX Runtime agreement figures that tests/test_export.py bounds: per dtype, the
largest absolute difference between ONNX Runtime's outputs and xpnet's forward pass over every
hidden activation x head, and how many of the labels differ from xpnet's predictions (and how
many rows had outputs tied within the tolerance, where either label is right).

    python tests/report_onnx.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_export import HEADS, HIDDEN, TOLERANCE, network, rows, session  # noqa: E402

for dtype in ("float32", "float64"):
    worst, differ, ties, total = 0.0, 0, 0, 0
    np_dtype = np.float64 if dtype == "float64" else np.float32
    for hidden in HIDDEN:
        for head in HEADS:
            scaled = HIDDEN.index(hidden) % 2 == 0
            net = network(hidden, head, dtype, scaled)
            X = rows(raw=scaled)
            got = session(net.to_onnx()).run(None, {"features": X.astype(np_dtype)})
            Xs = net.preprocessing.transform(X, np_dtype) if scaled else X
            expected = net.forward(Xs)
            worst = max(worst, float(np.abs(got[-1] - expected).max()))
            if len(got) == 2:
                k = expected.shape[1]
                if k == 1:
                    tied = np.abs(expected[:, 0] - 0.5) <= TOLERANCE[dtype]
                else:
                    top = np.sort(expected, axis=1)
                    tied = top[:, -1] - top[:, -2] <= TOLERANCE[dtype]
                differ += int((got[0] != net.predict(X)).sum())
                ties += int(tied.sum())
                total += len(X)
    print(f"{dtype}: max |ORT - xpnet| {worst:.2e}; labels differing {differ} of {total} "
          f"(rows tied within {TOLERANCE[dtype]:g}: {ties})")
