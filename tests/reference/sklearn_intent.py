#!/usr/bin/env python3
"""L2-regularised logistic regression by scikit-learn, the reference that
tests/intent_fit.rs compares `waymark fit intent` with.

    sklearn_intent.py SESSIONS_CSV L2 > out.json

Reads the sessions `waymark fit intent --export` wrote (part, session_start, converted,
then one column per intent feature), fits `LogisticRegression(C = 1 / L2)` (lbfgs, the
intercept not penalised) on the rows of part "fit", using the features at least one of
those rows shows (the others carry no information and keep their weight 0), and writes
{"bias": b, "weights": {feature: w}, "sklearn": version}.
"""

import csv
import json
import sys

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression


def main():
    path, l2 = sys.argv[1], float(sys.argv[2])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r and r[0] == "fit"]
    names = header[3:]
    x = np.array([[float(v) for v in r[3:]] for r in body])
    y = np.array([int(r[2]) for r in body])
    used = [j for j in range(len(names)) if np.any(x[:, j] != 0.0)]
    model = LogisticRegression(C=1.0 / l2, solver="lbfgs", tol=1e-12, max_iter=100_000)
    model.fit(x[:, used], y)
    weights = {names[j]: float(w) for j, w in zip(used, model.coef_[0])}
    json.dump({"bias": float(model.intercept_[0]), "weights": weights, "sklearn": sklearn.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
