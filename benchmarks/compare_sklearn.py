"""xpnet.sklearn against scikit-learn's own MLP estimators, with the same parameters, on the
data sets scikit-learn ships: cross-validated accuracy (R^2 for diabetes) and fit time.

Each library's estimator sits in a pipeline behind a scaler and is scored by 5-fold
``cross_validate`` (stratified for classifiers, as scikit-learn does); the fit time is the
median over the folds. The scenarios:

* ``defaults``: each estimator's defaults (``StandardScaler``);
* ``lbfgs``: ``solver="lbfgs"``, full-batch L-BFGS;
* ``weighted``: ``sample_weight`` from ``compute_sample_weight("balanced", y)``, routed to
  ``fit`` by ``cross_validate(params=...)``, each fold taking its rows' weights;
* ``sparse``: X as a CSR matrix behind ``MaxAbsScaler`` (what a TF-IDF pipeline passes).

The diabetes target (25 to 346) is standardised by ``TransformedTargetRegressor`` for both
libraries: with the raw target neither gets anywhere in 200 epochs, and both scores would be
noise. Each measurement runs in a fresh process, the two libraries alternate, and the medians
over ``--repeats`` seeds are compared. Usage:

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
SCENARIOS = {   # scenario -> (estimator parameters, data sets)
    "defaults": ({}, DATASETS),
    "lbfgs": ({"solver": "lbfgs"}, DATASETS),
    "weighted": ({}, ["digits", "wine", "breast_cancer"]),
    "sparse": ({}, ["digits", "breast_cancer"]),
}


def child(library: str, scenario: str, dataset: str, seed: int) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from sklearn import datasets
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler
    from sklearn.utils.class_weight import compute_sample_weight

    if library == "xpnet":
        from xpnet.sklearn import MLPClassifier, MLPRegressor
        extra = {"backend": "numpy"}
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        extra = {}
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    regression = dataset == "diabetes"
    params, fit_params = dict(SCENARIOS[scenario][0]), {}
    est = (MLPRegressor if regression else MLPClassifier)(random_state=seed, **params, **extra)
    if regression:
        est = TransformedTargetRegressor(est, transformer=StandardScaler())
    scaler = StandardScaler()
    if scenario == "sparse":
        X, scaler = sp.csr_matrix(X), MaxAbsScaler()
    pipe = make_pipeline(scaler, est)
    if scenario == "weighted":
        fit_params = {f"{pipe.steps[-1][0]}__sample_weight": compute_sample_weight("balanced", y)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = cross_validate(pipe, X, y, cv=5, params=fit_params)
    return {"score": float(np.mean(cv["test_score"])),
            "fit_seconds": float(np.median(cv["fit_time"])),
            "metric": "R^2" if regression else "accuracy", "n": int(len(y))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="fresh processes (seeds) per library")
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument("--child", nargs=4, metavar=("LIBRARY", "SCENARIO", "DATASET", "SEED"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        library, scenario, dataset, seed = args.child
        print(json.dumps(child(library, scenario, dataset, int(seed))))
        return
    cases = [(s, d) for s in args.scenarios for d in SCENARIOS[s][1] if d in args.datasets]
    runs: dict = {case: {"xpnet": [], "sklearn": []} for case in cases}
    for repeat in range(args.repeats):
        for scenario, dataset in cases:
            for library in ("xpnet", "sklearn"):
                out = subprocess.run([sys.executable, __file__, "--child", library, scenario,
                                      dataset, str(repeat)],
                                     capture_output=True, text=True, check=True)
                runs[scenario, dataset][library].append(
                    json.loads(out.stdout.strip().splitlines()[-1]))
    from xpnet.bench import machine

    rows = []
    print("| scenario | data set | metric | xpnet | scikit-learn | difference | xpnet fit (s) | "
          "scikit-learn fit (s) | time ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (scenario, dataset), r in runs.items():
        score = {k: statistics.median(x["score"] for x in v) for k, v in r.items()}
        fit = {k: statistics.median(x["fit_seconds"] for x in v) for k, v in r.items()}
        row = {"scenario": scenario, "dataset": dataset, "metric": r["xpnet"][0]["metric"],
               "n": r["xpnet"][0]["n"], "score": score, "fit_seconds": fit, "runs": r}
        rows.append(row)
        print(f"| {scenario} | {dataset} ({row['n']}) | {row['metric']} | "
              f"{score['xpnet']:.4f} | {score['sklearn']:.4f} | "
              f"{score['xpnet'] - score['sklearn']:+.4f} | {fit['xpnet']:.3f} | "
              f"{fit['sklearn']:.3f} | {fit['xpnet'] / fit['sklearn']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"repeats": args.repeats, "machine": machine(),
                       "command": " ".join(["python", "benchmarks/compare_sklearn.py",
                                            *sys.argv[1:]]),
                       "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
