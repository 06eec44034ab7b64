"""The classic textbook network: 784-30-10, sigmoid everywhere, quadratic cost, weights and
biases drawn from N(0, 1), plain mini-batch SGD (eta = 3.0, batch 10) for 30 epochs.
The book reports about 95% test accuracy.

    python examples/classic_network.py          (about 15 s on a 2-core CPU)
"""

import numpy as np

import xpnet

ds = xpnet.datasets.mnist()
X, X_test = ds.X_train / 255.0, ds.X_test / 255.0

net = xpnet.Network([784, 30, 10], hidden="sigmoid", output="sigmoid", loss="mse",
                    init="large", bias_init="normal", backend="numpy", seed=0)
history = net.fit(X, ds.y_train, epochs=30, batch_size=10, optimizer=xpnet.SGD(3.0))
accuracy = net.evaluate(X_test, ds.y_test)["accuracy"]
print(f"classic 784-30-10 sigmoid/MSE network: test accuracy {accuracy:.2%} "
      f"after {len(history.epoch)} epochs in {sum(history.seconds):.1f} s (book: ~95%)")
assert np.isfinite(accuracy)
