"""Scoring: the trained fraud model behind one small interface, with two runtimes.

``load_model()`` reads ``artifacts/model.json`` and returns a ``FraudModel``. The default
runtime is the LiteRT interpreter on the ``.tflite`` export (fast, ~50 MiB); with
``MODEL_RUNTIME=tensorflow`` the Keras file is run through TensorFlow instead (same scores to
1e-4, ~600 MiB). Decisions: DECLINED at or above the decline threshold, REVIEW at or above
the review threshold, APPROVED below.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
RUNTIMES = ("litert", "tensorflow")


class Scorer(Protocol):
    """Turns a (n, 15) float32 matrix into n fraud probabilities."""

    def __call__(self, rows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelCard:
    """What ``model.json`` says about the shipped model."""

    version: str
    features: tuple[str, ...]
    review_threshold: float
    decline_threshold: float
    tflite_file: str
    keras_file: str

    @classmethod
    def read(cls, directory: Path = ARTIFACTS) -> ModelCard:
        meta = json.loads((directory / "model.json").read_text())
        return cls(
            version=meta["version"],
            features=tuple(meta["features"]),
            review_threshold=float(meta["thresholds"]["review"]),
            decline_threshold=float(meta["thresholds"]["decline"]),
            tflite_file=meta["files"]["tflite"],
            keras_file=meta["files"]["keras"],
        )


class LiteRTScorer:
    """The ``.tflite`` export through LiteRT; one interpreter per thread (not thread-safe)."""

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._model = path.read_bytes()
        self._interpreter_cls = Interpreter
        self._local = threading.local()

    def _state(self) -> tuple[Any, int, int]:
        """This thread's interpreter and its input/output tensor indices."""
        state = getattr(self._local, "state", None)
        if state is None:
            interp = self._interpreter_cls(model_content=self._model, num_threads=1)
            interp.allocate_tensors()
            state = (interp, interp.get_input_details()[0]["index"],
                     interp.get_output_details()[0]["index"])
            self._local.state = state
            self._local.batch = None
        return state

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        interp, inp, out = self._state()
        if self._local.batch != rows.shape:
            interp.resize_tensor_input(inp, list(rows.shape))
            interp.allocate_tensors()
            self._local.batch = rows.shape
        interp.set_tensor(inp, np.ascontiguousarray(rows, dtype=np.float32))
        interp.invoke()
        return interp.get_tensor(out).reshape(-1).astype(np.float64)


class TensorFlowScorer:
    """The Keras file through TensorFlow, as a traced ``tf.function`` (not ``predict``)."""

    def __init__(self, path: Path) -> None:
        import keras
        import tensorflow as tf

        model = keras.models.load_model(path)
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._tf = tf

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        x = self._tf.constant(np.asarray(rows, dtype=np.float32))
        return self._fn(x).numpy().reshape(-1).astype(np.float64)


class FraudModel:
    """The model card plus a scorer: scores and decisions for feature rows."""

    def __init__(self, card: ModelCard, scorer: Scorer, runtime: str) -> None:
        self.card = card
        self.runtime = runtime
        self._scorer = scorer

    @property
    def version(self) -> str:
        return self.card.version

    def scores(self, rows: np.ndarray | list[list[float]]) -> np.ndarray:
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.card.features):
            raise ValueError(f"expected rows of {len(self.card.features)} features, "
                             f"got shape {matrix.shape}")
        return self._scorer(matrix)

    def decision(self, score: float) -> str:
        if score >= self.card.decline_threshold:
            return "DECLINED"
        if score >= self.card.review_threshold:
            return "REVIEW"
        return "APPROVED"


def load_model(runtime: str | None = None, directory: Path = ARTIFACTS) -> FraudModel:
    """Load the shipped model with ``runtime`` (default: ``$MODEL_RUNTIME`` or litert)."""
    runtime = (runtime or os.environ.get("MODEL_RUNTIME") or "litert").lower()
    if runtime not in RUNTIMES:
        raise ValueError(f"MODEL_RUNTIME must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    card = ModelCard.read(directory)
    if runtime == "litert":
        scorer: Scorer = LiteRTScorer(directory / card.tflite_file)
    else:
        scorer = TensorFlowScorer(directory / card.keras_file)
    return FraudModel(card, scorer, runtime)
