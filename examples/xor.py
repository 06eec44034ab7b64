"""The XOR-style table of the hand-worked two-layer example: inputs 001, 011, 101, 111 give
0, 1, 1, 0. A 3-4-1 sigmoid network with the quadratic cost learns it by full-batch gradient
descent.

    python examples/xor.py                      (about a second)
"""

import numpy as np

import xpnet

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
y = np.array([0, 1, 1, 0])

net = xpnet.Network([3, 4, 1], hidden="sigmoid", output="sigmoid", loss="mse", init="large",
                    backend="numpy", seed=0)
optimizer = xpnet.SGD(2.0)
for _ in range(2000):
    net.train_step(X, y, optimizer)

outputs = xpnet.backend.to_numpy(net.forward(X))[:, 0]
print("inputs  target  output")
for x, t, o in zip(X.astype(int), y, outputs):
    print(f"{''.join(map(str, x))}     {t}       {o:.3f}")
predicted = xpnet.backend.to_numpy(net.predict(X))
print(f"XOR table learned: {list(predicted) == list(y)} (cost {net.cost(X, y):.5f})")
