"""Per-sample rows -> the tidy ``summary`` table (method, dataset, split, metric, mean, std, n, n_failed)."""

from __future__ import annotations

import pandas as pd

__all__ = ["FIXED_COLUMNS", "failed_mask", "metric_columns", "summarize"]

#: per_sample columns that are not metrics
FIXED_COLUMNS = ("method", "dataset", "split", "sample_id", "group", "height", "width", "seconds",
                 "batch_size", "n_iter", "converged", "error")
_SUMMARISED_EXTRAS = ("seconds", "n_iter")


def metric_columns(per_sample: pd.DataFrame) -> list[str]:
    return [c for c in per_sample.columns if c not in FIXED_COLUMNS]


def failed_mask(per_sample: pd.DataFrame) -> pd.Series:
    err = per_sample["error"] if "error" in per_sample else pd.Series("", index=per_sample.index)
    return err.fillna("").astype(str).str.len() > 0


def summarize(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count of every metric (and seconds, n_iter) per method.

    Failed samples (non-empty ``error``) are excluded from the statistics and counted in
    ``n_failed``; ``n`` counts the successful samples.
    """
    cols = ["method", "dataset", "split", "metric", "mean", "std", "n", "n_failed"]
    if per_sample.empty:
        return pd.DataFrame(columns=cols)
    failed = failed_mask(per_sample)
    rows = []
    keys = ["method", "dataset", "split"]
    for (method, dataset, split), group in per_sample.groupby(keys, sort=False):
        ok = group[~failed.loc[group.index]]
        n_failed = int(failed.loc[group.index].sum())
        for metric in [*metric_columns(per_sample), *_SUMMARISED_EXTRAS]:
            if metric not in group:
                continue
            values = pd.to_numeric(ok[metric], errors="coerce").dropna()
            rows.append({"method": method, "dataset": dataset, "split": split, "metric": metric,
                         "mean": float(values.mean()) if len(values) else float("nan"),
                         "std": float(values.std(ddof=0)) if len(values) else float("nan"),
                         "n": len(values), "n_failed": n_failed})
    return pd.DataFrame(rows, columns=cols)
