"""LiteRT (the slim image's runtime) and TensorFlow give the same scores to 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
from optional import needs

from service.contract import MODEL_FEATURES
from service.examples import example_frame
from service.model import load_model

pytestmark = needs("tensorflow")


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    frame = example_frame()
    frauds = frame[frame.TX_FRAUD == 1].head(200)
    genuine = frame[frame.TX_FRAUD == 0].sample(1800, random_state=0)
    return np.concatenate([frauds, genuine])[:, [frame.columns.get_loc(c)
                                                 for c in MODEL_FEATURES]].astype(np.float32)


def test_batch_scores_agree(rows: np.ndarray) -> None:
    lite, tf = load_model("litert"), load_model("tensorflow")
    a, b = lite.scores(rows), tf.scores(rows)
    assert a.shape == b.shape == (len(rows),)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
    # Not a constant model: the frauds score clearly higher on average.
    assert a[:200].mean() > 5 * a[200:].mean()


def test_single_rows_and_batches_agree(rows: np.ndarray) -> None:
    lite = load_model("litert")
    batch = lite.scores(rows[:64])
    one_by_one = np.array([lite.scores(rows[i:i + 1])[0] for i in range(64)])
    np.testing.assert_allclose(batch, one_by_one, rtol=0, atol=1e-6)


def test_decisions_follow_the_thresholds() -> None:
    model = load_model("litert")
    card = model.card
    assert model.decision(card.decline_threshold) == "DECLINED"
    assert model.decision(card.review_threshold) == "REVIEW"
    assert model.decision(np.nextafter(card.review_threshold, 0)) == "APPROVED"


def test_unknown_runtime_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MODEL_RUNTIME must be one of"):
        load_model("onnx")
