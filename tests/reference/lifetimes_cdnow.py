#!/usr/bin/env python3
"""BG/NBD and Gamma-Gamma by the Python package `lifetimes`, the reference that
tests/predict_cdnow.rs compares waymark's purchase-history models with.

    lifetimes_cdnow.py CDNOW_sample.txt END HORIZON MONTHS MONTH DISCOUNT [PARAMS_JSON] > out.json

Reads the CDNOW transactions (whitespace-separated: master id, customer id, YYYYMMDD,
quantity, amount), summarizes the calibration period (orders up to END, inclusive) with
lifetimes' own `summary_data_from_transaction_data` (one transaction per day, times in
days, then divided by 7: weeks), fits `BetaGeoFitter` on every customer and
`GammaGammaFitter` on the repeat customers, and writes per customer: the summary, P(alive),
expected purchases in the next HORIZON weeks, expected spend per order, and lifetime value
over MONTHS months of MONTH weeks at DISCOUNT a month. With PARAMS_JSON
({"bgnbd": [r, alpha, a, b], "gamma_gamma": [p, q, v]}) the same predictions are also made
at those parameters (`at_given`), which separates formulas from fits.
"""

import json
import sys
import warnings

import pandas as pd

import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

warnings.simplefilter("ignore")


def predictions(bgf, ggf, s, horizon, months, month, discount):
    f, r, t, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
    # customer_lifetime_value calls `predict`, which only `fit` binds.
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    # Months of MONTH weeks: lifetimes' factor for weekly data is 4.345; any other length
    # is had by scaling the time axis the same way.
    scale = 4.345 / month
    scaled = BetaGeoFitter()
    r_, alpha, a, b = bgf.params_[["r", "alpha", "a", "b"]]
    scaled.params_ = pd.Series({"r": r_, "alpha": alpha * scale, "a": a, "b": b})
    scaled.predict = scaled.conditional_expected_number_of_purchases_up_to_time
    clv = ggf.customer_lifetime_value(
        scaled, f, r * scale, t * scale, m, time=months, discount_rate=discount, freq="W"
    )
    return {
        "p_alive": list(map(float, bgf.conditional_probability_alive(f, r, t))),
        "expected": list(map(float, bgf.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, t))),
        "spend": list(map(float, ggf.conditional_expected_average_profit(f, m))),
        "clv": list(map(float, clv)),
    }


def main() -> int:
    if len(sys.argv) not in (7, 8):
        print(__doc__, file=sys.stderr)
        return 2
    path, end = sys.argv[1], sys.argv[2]
    horizon, months, month, discount = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    tx = pd.read_csv(path, sep=r"\s+", header=None, names=["master", "customer", "date", "quantity", "amount"])
    tx["date"] = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d")
    tx = tx[tx["date"] <= end]
    s = summary_data_from_transaction_data(
        tx, "customer", "date", monetary_value_col="amount", observation_period_end=end, freq="D"
    )
    s["recency"] = s["recency"] / 7.0
    s["T"] = s["T"] / 7.0

    bgf = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    repeat = s[s["frequency"] > 0]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    ours = predictions(bgf, ggf, s, horizon, months, month, discount)

    given = None
    if len(sys.argv) == 8:
        params = json.loads(sys.argv[7])
        gb, gg = BetaGeoFitter(), GammaGammaFitter()
        gb.params_ = pd.Series(dict(zip(["r", "alpha", "a", "b"], params["bgnbd"])))
        gg.params_ = pd.Series(dict(zip(["p", "q", "v"], params["gamma_gamma"])))
        given = predictions(gb, gg, s, horizon, months, month, discount)

    customers = {}
    for n, (cid, row) in enumerate(s.iterrows()):
        c = {
            "frequency": int(row["frequency"]),
            "recency": float(row["recency"]),
            "T": float(row["T"]),
            "monetary_value": float(row["monetary_value"]),
        }
        c.update({k: v[n] for k, v in ours.items()})
        if given is not None:
            c["at_given"] = {k: v[n] for k, v in given.items()}
        customers[str(cid)] = c
    out = {
        "lifetimes": lifetimes.__version__,
        "bgnbd": {k: float(bgf.params_[k]) for k in ["r", "alpha", "a", "b"]},
        "gamma_gamma": {k: float(ggf.params_[k]) for k in ["p", "q", "v"]},
        "customers": customers,
    }
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
