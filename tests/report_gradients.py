"""Print the gradient-check figures that tests/test_network.py bounds, per backend: the largest
relative error of backpropagation against central finite differences and against PyTorch
autograd, over every hidden activation x (output, cost) pairing, in float64.

    python tests/report_gradients.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_network import (  # noqa: E402
    HEADS,
    HIDDEN,
    X_SMALL,
    rel_err,
    small_net,
    targets,
    torch_reference_grads,
)

import xpnet  # noqa: E402
from xpnet.backend import to_numpy  # noqa: E402

for name in ("numpy", "array_api_strict", "torch", "cupy"):
    try:
        xpnet.resolve(name)
    except xpnet.BackendError as exc:
        print(f"{name}: skipped ({exc})")
        continue
    worst_fd = worst_ad = 0.0
    for hidden in HIDDEN:
        for out, loss in HEADS:
            net = small_net(name, hidden, out, loss)
            Y = targets(loss, out)
            worst_fd = max(worst_fd, xpnet.gradcheck(net, X_SMALL, Y, max_entries=None))
            ref = torch_reference_grads(net, X_SMALL, Y, loss, net.l2)
            got = [to_numpy(g) for pair in net.gradients(X_SMALL, Y) for g in pair]
            worst_ad = max(worst_ad, max(rel_err(g, r) for g, r in zip(got, ref)))
    print(f"{name}: {len(HIDDEN) * len(HEADS)} pairings; max relative error against finite "
          f"differences {worst_fd:.1e}, against torch autograd {worst_ad:.1e}")
