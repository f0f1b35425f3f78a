"""Train the fraud MLP with TensorFlow and write the model, its LiteRT export and the report.

    python -m service.train            # ~1 min to simulate (cached), ~1 min to train

The handbook's protocol (``service.dataset``): one training week, a 7-day delay, one test
week. The network standardises its inputs itself (a Keras ``Normalization`` layer adapted on
the training week), so the ``.tflite`` export is self-contained: 15 raw features in, the
fraud probability out. Needs the ``train`` extra (TensorFlow).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from service.contract import MODEL_FEATURES
from service.dataset import load_transformed, train_test_split
from service.evaluation import evaluate
from service.model import ARTIFACTS, load_model
from service.report import write_report

THRESHOLDS = {"review": 0.2, "decline": 0.5}
SEED = 42


def build_model(train_x: np.ndarray):
    """Normalization → 64 → 32 → 1, ReLU and dropout, sigmoid output."""
    import keras

    norm = keras.layers.Normalization(axis=-1, name="standardize")
    norm.adapt(train_x)
    model = keras.Sequential([
        keras.Input(shape=(len(MODEL_FEATURES),), name="features"),
        norm,
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(1, activation="sigmoid", name="fraud_probability"),
    ], name="fraud_mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def export_tflite(model, path: Path) -> None:
    """Export through a SavedModel (variables frozen) to a float32 ``.tflite``."""
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(tmp).convert())


def train(out: Path = ARTIFACTS, epochs: int = 20) -> dict:
    """Train, export and evaluate; returns the report's figures."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    started = time.time()
    tx = load_transformed()
    train_df, test_df = train_test_split(tx)
    x = train_df[list(MODEL_FEATURES)].to_numpy(np.float32)
    y = train_df.TX_FRAUD.to_numpy(np.float32)
    model = build_model(x)
    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=2)
    train_seconds = time.time() - started

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "fraud_mlp.keras")
    export_tflite(model, out / "fraud_mlp.tflite")
    digest = hashlib.sha256((out / "fraud_mlp.tflite").read_bytes()).hexdigest()[:12]
    card = {
        "version": f"fraud-mlp-1+{digest}",
        "features": list(MODEL_FEATURES),
        "thresholds": THRESHOLDS,
        "files": {"keras": "fraud_mlp.keras", "tflite": "fraud_mlp.tflite"},
        "training": {"period": [str(train_df.TX_DATETIME.min()), str(train_df.TX_DATETIME.max())],
                     "transactions": len(train_df), "frauds": int(y.sum()),
                     "epochs": epochs, "batch_size": 64, "seed": SEED},
    }
    (out / "model.json").write_text(json.dumps(card, indent=2) + "\n")

    served = load_model("litert", out)
    scores = served.scores(test_df[list(MODEL_FEATURES)].to_numpy(np.float32))
    figures = evaluate(test_df, scores, THRESHOLDS)
    figures["model_version"] = card["version"]
    figures["train_seconds"] = round(train_seconds, 1)
    figures["parameters"] = int(model.count_params())
    write_report(figures, out)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ARTIFACTS)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    figures = train(args.out, args.epochs)
    print(json.dumps({k: v for k, v in figures.items() if k != "at_thresholds"}, indent=2))


if __name__ == "__main__":
    main()
