"""The model report: our figures beside the handbook's, as JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

HANDBOOK = {
    "neural_network": {"auc_roc": 0.876, "average_precision": 0.675,
                       "card_precision_at_100": 0.303},
    "logistic_regression": {"auc_roc": 0.871, "average_precision": 0.606,
                            "card_precision_at_100": 0.291},
}
"""Fraud Detection Handbook: Ch. 7 feed-forward NN (model-selection table) and Ch. 3 baseline
logistic regression, on the same simulated data and protocol."""


def markdown(figures: dict) -> str:
    """The report as Markdown."""
    nn, lr = HANDBOOK["neural_network"], HANDBOOK["logistic_regression"]
    lines = [
        "# Fraud model report",
        "",
        f"Model `{figures['model_version']}` ({figures['parameters']:,} parameters), "
        f"trained in {figures['train_seconds']} s. Test week 2018-08-08 … 08-14: "
        f"{figures['n_transactions']:,} transactions, {figures['n_frauds']} frauds "
        f"({figures['fraud_rate']:.2%}).",
        "",
        "| measure | this model | handbook NN | handbook logistic regression |",
        "|---|---|---|---|",
    ]
    for key, label in (("auc_roc", "AUC ROC"), ("average_precision", "Average Precision"),
                       ("card_precision_at_100", "Card Precision@100")):
        lines.append(f"| {label} | {figures[key]:.3f} | {nn[key]:.3f} | {lr[key]:.3f} |")
    lines += ["", "## At the served thresholds", "",
              "| flag when score ≥ | accuracy | recall | precision | false-positive rate |",
              "|---|---|---|---|---|"]
    for name, m in figures["at_thresholds"].items():
        lines.append(f"| {m['threshold']} ({name}) | {m['accuracy']:.4f} | {m['recall']:.3f} "
                     f"| {m['precision']:.3f} | {m['false_positive_rate']:.4f} |")
    lines += [
        "",
        f"A model that says \"genuine\" to everything is **{figures['all_genuine_accuracy']:.2%} "
        "accurate** on this test week and catches no fraud at all: with under 1% fraud, "
        "accuracy says little. Recall, precision and the false-positive rate at the threshold "
        "in use, and threshold-free measures (AUC ROC, Average Precision, Card Precision@100), "
        "are what a fraud team looks at.",
        "",
    ]
    return "\n".join(lines)


def write_report(figures: dict, out: Path) -> None:
    """Write ``report.json`` and ``report.md`` beside the model."""
    (out / "report.json").write_text(json.dumps(figures, indent=2) + "\n")
    (out / "report.md").write_text(markdown(figures))
