"""The handbook's performance measures: AUC ROC, Average Precision, Card Precision@k.

Card Precision@k (``Chapter_4_PerformanceMetrics``): each day, the k cards with the highest
score (a card's score is its highest transaction score that day) are checked by
investigators; the measure is the share of them that really were compromised, averaged over
the days. Cards found compromised are removed from the following days.
Threshold measures (accuracy, recall, …) show why accuracy alone misleads on 0.8% fraud.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def card_precision_top_k(tx: pd.DataFrame, scores: np.ndarray, k: int = 100) -> float:
    """Mean daily Card Precision@k over the days of ``tx`` (with TX_TIME_DAYS, CUSTOMER_ID)."""
    df = pd.DataFrame({"day": tx.TX_TIME_DAYS.to_numpy(), "card": tx.CUSTOMER_ID.to_numpy(),
                       "fraud": tx.TX_FRAUD.to_numpy(), "score": np.asarray(scores)})
    detected: set[int] = set()
    daily = []
    for _, day in df.groupby("day", sort=True):
        day = day[~day.card.isin(detected)]
        cards = day.groupby("card")[["score", "fraud"]].max()
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        found = top.index[top.fraud == 1]
        daily.append(len(found) / k)
        detected.update(int(c) for c in found)
    return float(np.mean(daily))


def threshold_measures(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Accuracy, recall, precision and false-positive rate when flagging score >= threshold."""
    y = np.asarray(labels).astype(bool)
    flagged = np.asarray(scores) >= threshold
    tp = int(np.sum(flagged & y))
    fp = int(np.sum(flagged & ~y))
    fn = int(np.sum(~flagged & y))
    tn = int(np.sum(~flagged & ~y))
    return {
        "threshold": threshold,
        "accuracy": (tp + tn) / len(y),
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def evaluate(test: pd.DataFrame, scores: np.ndarray, thresholds: dict[str, float]) -> dict:
    """All the report's figures for scores on the test set."""
    labels = test.TX_FRAUD.to_numpy()
    return {
        "n_transactions": len(test),
        "n_frauds": int(labels.sum()),
        "fraud_rate": float(labels.mean()),
        "auc_roc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "card_precision_at_100": card_precision_top_k(test, scores, 100),
        "at_thresholds": {name: threshold_measures(labels, scores, t)
                          for name, t in thresholds.items()},
        "all_genuine_accuracy": float(1 - labels.mean()),
    }
