"""What a GPU machine needs carried to it, prepared here and checked as the GPU machine will
install it: from the carried folder alone, no index.

    python benchmarks/gpu_carry.py prepare    # wheels into .whl/, the data into .gpudata/
    python benchmarks/gpu_carry.py check      # install .whl/ with --no-index, as there

The lent machines run Python 3.12 with CuPy, PyTorch, NumPy, pytest, pytest-benchmark,
pytest-timeout, hypothesis, mpi4py and matplotlib, and reach no package index. They lack
array-api-compat, array-api-extra and array-api-strict (pure Python), and an MPI library for
mpi4py to load (MPICH's wheel carries one, with mpiexec); mpi4py is carried too, in the version
known to load that MPICH (``MPI4PY_LIBMPI`` points it at the library, which MPICH's
wheel installs as a data file: ``--prefix`` keeps it where ``--target`` would drop it). The
data (``../shared/data``: MNIST and the wheat seeds) does not travel by itself. Both folders
must be ignored by git (``.git/info/exclude``) and named in the device call's ``carry``;
together with the checkout they must stay under 64 MiB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import carried_mpich  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".whl"
DATA = ROOT / ".gpudata"
PINNED = ["array-api-compat==1.16.0", "array-api-extra==0.11.5", "array-api-strict==2.6.1",
          "mpich==5.0.2", "mpi4py==4.1.2"]
TARGET = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
          *[f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                                         "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                                         "manylinux1_x86_64", "any")]]
LIMIT_MIB = 64


def ignore(*names: str) -> None:
    exclude = ROOT / ".git" / "info" / "exclude"
    have = exclude.read_text().splitlines() if exclude.exists() else []
    with open(exclude, "a") as fh:
        for name in names:
            if f"/{name}/" not in have:
                fh.write(f"/{name}/\n")


def prepare() -> int:
    ignore(WHEELS.name, DATA.name)
    WHEELS.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *TARGET, "-d",
                    str(WHEELS), *PINNED], check=True)
    shared = ROOT.parent / "shared" / "data"
    if not shared.is_dir():
        print(f"no data at {shared}; put MNIST in {DATA}/mnist/ by hand", file=sys.stderr)
        return 1
    shutil.rmtree(DATA, ignore_errors=True)
    shutil.copytree(shared, DATA)
    return check()


def size_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def check() -> int:
    wheels = sorted(WHEELS.glob("*.whl"))
    missing = [p for p in PINNED if not any(w.name.lower().startswith(
        p.split("==")[0].replace("-", "_") + "-" + p.split("==")[1]) for w in wheels)]
    if missing:
        print(f"missing from {WHEELS}: {', '.join(missing)}; run: "
              "python benchmarks/gpu_carry.py prepare", file=sys.stderr)
        return 1
    mpich = [w for w in wheels if w.name.startswith("mpich-")]
    rest = [w for w in wheels if w not in mpich]
    with tempfile.TemporaryDirectory() as tmp:   # as the GPU machine installs them
        site, prefix = Path(tmp) / "site", Path(tmp) / "mpi"
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
               "--no-compile", "--ignore-installed"]
        subprocess.run([*pip, "--target", str(site), *TARGET, *map(str, rest)], check=True)
        # MPICH's library and mpiexec are data files: --target drops them, --prefix keeps them
        # (under PREFIX/local/ with a Debian system Python: gpu_check finds them either way)
        subprocess.run([*pip, "--prefix", str(prefix), *map(str, mpich)], check=True)
        installed = sorted(p.name for p in site.glob("*.dist-info"))
        found = carried_mpich(prefix)
        if found is None:
            print(f"the MPICH wheel installs no bin/mpiexec and lib/libmpi.so.12 under {prefix}",
                  file=sys.stderr)
            return 1
        installed.append(f"mpich ({found[1].relative_to(prefix)}, "
                         f"{(found[0] / 'mpiexec').relative_to(prefix)})")
    data = {f"{DATA.name}/{p.relative_to(DATA)}" for p in DATA.rglob("*") if p.is_file()}
    needed = {f"{DATA.name}/mnist/{n}-ubyte.gz" for n in (
        "train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")}
    needed.add(f"{DATA.name}/wheat-seeds.csv")
    if not needed <= data:
        print(f"{DATA} lacks {', '.join(sorted(needed - data))}", file=sys.stderr)
        return 1
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.split(b"\0")
    repo = sum((ROOT / t.decode()).stat().st_size for t in tracked if t and
               (ROOT / t.decode()).is_file()) / 2**20
    total = repo + size_mib(WHEELS) + size_mib(DATA)
    print(f"installs from {WHEELS.name}/ alone: {', '.join(installed)}")
    print(f"carried: {size_mib(WHEELS):.1f} MiB of wheels, {size_mib(DATA):.1f} MiB of data, "
          f"{repo:.1f} MiB of checkout: {total:.1f} of {LIMIT_MIB} MiB")
    return 0 if total < LIMIT_MIB else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("prepare", "check"))
    return {"prepare": prepare, "check": check}[p.parse_args().what]()


if __name__ == "__main__":
    sys.exit(main())
