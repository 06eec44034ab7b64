"""xpnet as a drop-in for scikit-learn's MLPClassifier: one import changes, the rest is plain
scikit-learn (a pipeline, a grid search over worker processes, a held-out score).

    pip install ".[sklearn]"
    python examples/sklearn_grid_search.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xpnet.sklearn import MLPClassifier  # was: from sklearn.neural_network import ...

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
search = GridSearchCV(
    make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0)),
    {"mlpclassifier__hidden_layer_sizes": [(64,), (128,)], "mlpclassifier__alpha": [1e-4, 1e-2]},
    cv=3, n_jobs=2)
search.fit(X_train, y_train)
print(f"best {search.best_params_}: cross-validated accuracy {search.best_score_:.4f}, "
      f"held-out accuracy {search.score(X_test, y_test):.4f}")
