"""The transformed dataset, cached on disk, and the handbook's train/delay/test split.

``Chapter_3_GettingStarted/BaselineModeling.ipynb``: train on one week (from 2018-07-25),
skip a 7-day delay period (frauds are not yet known), test on the following week
(2018-08-08 to 08-14). Cards known to be compromised — frauds seen in the training week or
revealed during the delay, day by day — are removed from the test set, as the handbook does.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from service.features import transform
from service.simulator import SimulationConfig, simulate

TRAIN_START = datetime(2018, 7, 25)
TRAIN_DAYS = DELAY_DAYS = TEST_DAYS = 7


def cache_dir() -> Path:
    """Where generated datasets are kept (``$FRAUDLAB_CACHE`` or ``~/.cache/fraudlab``)."""
    base = os.environ.get("FRAUDLAB_CACHE") or Path.home() / ".cache" / "fraudlab"
    return Path(base)


HANDBOOK_CONFIG = SimulationConfig()


def load_transformed(config: SimulationConfig = HANDBOOK_CONFIG,
                     use_cache: bool = True) -> pd.DataFrame:
    """Simulated and transformed transactions; generated once (~1 min), then read back."""
    path = cache_dir() / f"transactions-{config.key()}.pkl"
    if use_cache and path.exists():
        return pd.read_pickle(path)
    df = transform(simulate(config))
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        df.to_pickle(tmp)
        tmp.replace(path)
    return df


def train_test_split(tx: pd.DataFrame, start: datetime = TRAIN_START,
                     train_days: int = TRAIN_DAYS, delay_days: int = DELAY_DAYS,
                     test_days: int = TEST_DAYS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The handbook's ``get_train_test_set``: training week and test week, delay between."""
    train = tx[(start <= tx.TX_DATETIME) & (start + timedelta(days=train_days) > tx.TX_DATETIME)]
    known = set(train[train.TX_FRAUD == 1].CUSTOMER_ID)
    first_day = int(train.TX_TIME_DAYS.min())
    test_parts = []
    for day in range(test_days):
        test_day = tx[first_day + train_days + delay_days + day == tx.TX_TIME_DAYS]
        revealed = tx[first_day + train_days + day - 1 == tx.TX_TIME_DAYS]
        known |= set(revealed[revealed.TX_FRAUD == 1].CUSTOMER_ID)
        test_parts.append(test_day[~test_day.CUSTOMER_ID.isin(known)])
    test = pd.concat(test_parts)
    return train.sort_values("TRANSACTION_ID"), test.sort_values("TRANSACTION_ID")
