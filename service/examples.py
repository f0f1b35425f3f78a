"""Realistic example transactions for demos and traffic: simulated, transformed, as requests.

A smaller simulation than the handbook's (fewer customers and days, same terminal density
and fraud scenarios) takes about two seconds; its last weeks give transactions whose
customer and terminal histories are fully formed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from service.features import to_request, transform
from service.simulator import SimulationConfig, simulate

EXAMPLE_CONFIG = SimulationConfig(n_customers=1000, n_terminals=10_000, nb_days=75)
HISTORY_DAYS = 45  # skip the first days: 30-day windows and the 7-day delay need history


@lru_cache(maxsize=2)
def example_frame(config: SimulationConfig = EXAMPLE_CONFIG) -> pd.DataFrame:
    """Transformed transactions with full history (cached per process)."""
    tx = transform(simulate(config))
    return tx[min(HISTORY_DAYS, config.nb_days - 1) <= tx.TX_TIME_DAYS].reset_index(drop=True)


def sample_requests(n: int, seed: int = 0, fraud_share: float | None = None,
                    config: SimulationConfig = EXAMPLE_CONFIG) -> list[tuple[dict, int]]:
    """``n`` request bodies with their true label (1 = fraud), in time order.

    ``fraud_share`` oversamples frauds (a demo with 0.8% fraud would show none); ``None``
    keeps the natural rate.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    frame = example_frame(config)
    rng = np.random.default_rng(seed)
    if fraud_share is None:
        picked = rng.choice(len(frame), size=min(n, len(frame)), replace=False)
    else:
        frauds = np.flatnonzero(frame.TX_FRAUD.to_numpy() == 1)
        genuine = np.flatnonzero(frame.TX_FRAUD.to_numpy() == 0)
        k = min(len(frauds), round(n * fraud_share))
        picked = np.concatenate([rng.choice(frauds, size=k, replace=False),
                                 rng.choice(genuine, size=n - k, replace=False)])
    rows = frame.iloc[np.sort(picked)]
    return [(to_request(row), int(row.TX_FRAUD)) for _, row in rows.iterrows()]
