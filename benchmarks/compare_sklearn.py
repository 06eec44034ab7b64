"""xpnet.sklearn against scikit-learn's own MLP estimators, each with its defaults, on the data
sets scikit-learn ships: cross-validated accuracy (R^2 for diabetes) and fit time.

Each library's estimator sits in ``make_pipeline(StandardScaler(), estimator)`` and is scored by
5-fold ``cross_validate`` (stratified for classifiers, as scikit-learn does); the fit time is
the median over the folds. Each measurement runs in a fresh process, the two libraries
alternate, and the medians over ``--repeats`` runs are compared. Usage:

    python benchmarks/compare_sklearn.py --repeats 3 --json benchmarks/results/...json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import warnings

DATASETS = ["digits", "wine", "breast_cancer", "diabetes"]


def child(library: str, dataset: str, seed: int) -> dict:
    import numpy as np
    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if library == "xpnet":
        from xpnet.sklearn import MLPClassifier, MLPRegressor
        extra = {"backend": "numpy"}
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        extra = {}
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    regression = dataset == "diabetes"
    est = (MLPRegressor if regression else MLPClassifier)(random_state=seed, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = cross_validate(make_pipeline(StandardScaler(), est), X, y, cv=5)
    return {"score": float(np.mean(cv["test_score"])),
            "fit_seconds": float(np.median(cv["fit_time"])),
            "metric": "R^2" if regression else "accuracy", "n": int(len(y))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per library")
    p.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument("--child", nargs=3, metavar=("LIBRARY", "DATASET", "SEED"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        library, dataset, seed = args.child
        print(json.dumps(child(library, dataset, int(seed))))
        return
    runs: dict = {d: {"xpnet": [], "sklearn": []} for d in args.datasets}
    for repeat in range(args.repeats):
        for dataset in args.datasets:
            for library in ("xpnet", "sklearn"):
                out = subprocess.run([sys.executable, __file__, "--child", library, dataset,
                                      str(repeat)], capture_output=True, text=True, check=True)
                runs[dataset][library].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    print("| data set | metric | xpnet | scikit-learn | difference | xpnet fit (s) | "
          "scikit-learn fit (s) | time ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dataset, r in runs.items():
        score = {k: statistics.median(x["score"] for x in v) for k, v in r.items()}
        fit = {k: statistics.median(x["fit_seconds"] for x in v) for k, v in r.items()}
        row = {"dataset": dataset, "metric": r["xpnet"][0]["metric"], "n": r["xpnet"][0]["n"],
               "score": score, "fit_seconds": fit, "runs": r}
        rows.append(row)
        print(f"| {dataset} ({row['n']}) | {row['metric']} | {score['xpnet']:.4f} | "
              f"{score['sklearn']:.4f} | {100 * (score['xpnet'] - score['sklearn']):+.2f} pt | "
              f"{fit['xpnet']:.3f} | {fit['sklearn']:.3f} | "
              f"{fit['xpnet'] / fit['sklearn']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"repeats": args.repeats, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
