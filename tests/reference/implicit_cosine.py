#!/usr/bin/env python3
"""Item-to-item neighbours by the Python package `implicit` (CosineRecommender), the
reference that tests/recommend_reference.rs compares waymark's cosine lists with.

    implicit_cosine.py MATRIX.csv N > neighbours.json

MATRIX.csv: lines `shopper,item,weight` (shopper and item as 0-based numbers; repeated
pairs add up, as scipy's sparse constructors sum duplicates). For every item, writes its
`N` most similar items by `similar_items`, the item itself included as implicit ranks it:
{"implicit": version, "neighbours": {"<item>": [[item, score], ...]}}.
"""

import json
import sys

import numpy as np
from scipy.sparse import csr_matrix

import implicit
from implicit.nearest_neighbours import CosineRecommender


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, n = sys.argv[1], int(sys.argv[2])
    shoppers, items, weights = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            u, i, w = line.split(",")
            shoppers.append(int(u))
            items.append(int(i))
            weights.append(float(w))
    # Rows are shoppers, columns items: implicit 0.7's `fit` takes the user-item matrix.
    user_items = csr_matrix(
        (np.array(weights, dtype=np.float32), (np.array(shoppers), np.array(items)))
    )
    model = CosineRecommender(K=n)
    model.fit(user_items, show_progress=False)
    out = {}
    for item in range(user_items.shape[1]):
        ids, scores = model.similar_items(item, N=n)
        out[str(item)] = [[int(j), float(s)] for j, s in zip(ids, scores)]
    json.dump({"implicit": implicit.__version__, "neighbours": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
