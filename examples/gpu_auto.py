"""Training on a GPU when there is one: backend="auto" picks CuPy when it imports and sees a
CUDA device, and NumPy otherwise; the code is the same either way.

    pip install "xpnet[gpu]"    # CuPy for CUDA 12 ("xpnet[gpu-cuda13]" for CUDA 13), NVIDIA GPU
    python examples/gpu_auto.py
"""

import time

import xpnet

ds = xpnet.datasets.mnist()
net = xpnet.Network([784, 512, 512, 10], hidden="relu", output="softmax",
                    loss="cross_entropy", dropout=0.2, backend="auto", seed=0)
print(f"running on {net.backend.describe()}")

t0 = time.perf_counter()
history = net.fit(ds.X_train / 255.0, ds.y_train, epochs=20, batch_size=128,
                  optimizer="momentum", learning_rate=0.05, schedule="cosine")
seconds = time.perf_counter() - t0
accuracy = net.evaluate(ds.X_test / 255.0, ds.y_test)["accuracy"]
print(f"test accuracy {accuracy:.2%} after {len(history.epoch)} epochs in {seconds:.1f} s "
      f"on {net.backend.describe()}")
