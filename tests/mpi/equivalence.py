"""Run under ``mpiexec -n N``: train a small float64 network data-parallel and write rank 0's
final parameters (and the history) to the path given; ``--die-rank R --die-epoch E`` makes rank
R exit abruptly at the end of epoch E (failure test)."""

import argparse
import json
import os

import numpy as np

import xpnet
from xpnet.backend import to_numpy


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, n)
    return centres[y] + 0.6 * rng.normal(size=(n, 2)), y


class Die(xpnet.Callback):
    def __init__(self, rank, epoch, my_rank):
        self.rank, self.epoch, self.my_rank = rank, epoch, my_rank

    def on_epoch_end(self, net, epoch, logs):
        if self.my_rank == self.rank and epoch == self.epoch:
            os._exit(3)   # no clean-up, no MPI_Finalize: like a crashed node


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--comm", default="mpi")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--die-rank", type=int)
    p.add_argument("--die-epoch", type=int, default=2)
    p.add_argument("--checkpoint")
    args = p.parse_args()
    comm = xpnet.comm.get(args.comm)
    X, y = blobs()
    net = xpnet.Network([2, 16, 16, 3], hidden="tanh", backend="numpy", dtype="float64",
                        l2=0.1, seed=0)
    callbacks = [Die(args.die_rank, args.die_epoch, comm.rank)] if args.die_rank is not None \
        else []
    h = net.fit(X, y, epochs=args.epochs, batch_size=30, optimizer="momentum",
                learning_rate=0.05, comm=comm, progress=False, callbacks=callbacks,
                checkpoint=args.checkpoint)
    if comm.is_root:
        np.savez(args.out, *[to_numpy(q) for q in net.parameters()])
        with open(args.out + ".json", "w") as fh:
            json.dump(h.as_dict(), fh)


if __name__ == "__main__":
    main()
