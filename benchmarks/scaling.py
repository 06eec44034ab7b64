"""Data-parallel scaling over MPI: one MNIST epoch of 784-512-512-10 with 1 and N ranks.

* weak scaling: the per-rank batch is fixed (global batch = per-rank batch x ranks);
* strong scaling: the global batch is fixed and split across the ranks.

Reported as samples per second and parallel efficiency (rate with N ranks / (N x rate with 1)).
Each rank runs OpenBLAS single-threaded so that N ranks use N cores. Run it as a plain
script; it launches ``mpiexec`` itself:

    python benchmarks/scaling.py --ranks 1 2 --batch 128 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def worker(batch: int, epochs: int) -> None:
    import numpy as np

    import xpnet

    comm = xpnet.comm.get("mpi")
    ds = xpnet.datasets.mnist(download=False)
    X = ds.X_train.astype(np.float32) / 255.0
    net = xpnet.Network([784, 512, 512, 10], hidden="relu", backend="numpy", seed=0)
    net.fit(X[:batch * 4], ds.y_train[:batch * 4], epochs=1, batch_size=batch,
            optimizer="momentum", learning_rate=0.01, progress=False, comm=comm)  # warm-up
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.fit(X, ds.y_train, epochs=1, batch_size=batch, optimizer="momentum",
                learning_rate=0.01, progress=False, comm=comm)
        times.append(time.perf_counter() - t0)
    if comm.is_root:
        print(json.dumps({"ranks": comm.size, "batch": batch, "seconds": min(times),
                          "samples_per_s": len(X) / min(times)}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=128, help="per-rank (weak) / global (strong)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--worker", nargs=2, type=int, metavar=("BATCH", "EPOCHS"))
    p.add_argument("--json")
    args = p.parse_args()
    if args.worker:
        return worker(*args.worker)
    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec",
                                                      path=os.path.dirname(sys.executable))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    rows = []
    for mode in ("weak", "strong"):
        base = None
        for n in args.ranks:
            batch = args.batch * n if mode == "weak" else args.batch
            out = subprocess.run([mpiexec, "-n", str(n), sys.executable, __file__, "--worker",
                                  str(batch), str(args.epochs)], capture_output=True, text=True,
                                 env=env, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            base = base or r["samples_per_s"]
            r.update(mode=mode, efficiency=r["samples_per_s"] / (n * base))
            rows.append(r)
    print("| scaling | ranks | global batch | epoch (s) | samples/s | efficiency |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['mode']} | {r['ranks']} | {r['batch']} | {r['seconds']:.2f} | "
              f"{r['samples_per_s']:.0f} | {r['efficiency']:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
