"""The chapter-3 transformation against a literal pandas rolling-window reference."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from service.contract import MODEL_FEATURES, is_night, is_weekend, to_model_row
from service.features import to_request, transform
from service.simulator import SimulationConfig, simulate


def _reference_customer(ct: pd.DataFrame) -> pd.DataFrame:
    ct = ct.sort_values("TX_DATETIME").set_index("TX_DATETIME")
    for w in (1, 7, 30):
        total = ct["TX_AMOUNT"].rolling(f"{w}D").sum()
        count = ct["TX_AMOUNT"].rolling(f"{w}D").count()
        ct[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = count.to_numpy()
        ct[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = (total / count).to_numpy()
    return ct.reset_index()


def _reference_terminal(tt: pd.DataFrame, delay: int = 7) -> pd.DataFrame:
    tt = tt.sort_values("TX_DATETIME").set_index("TX_DATETIME")
    fraud_delay = tt["TX_FRAUD"].rolling(f"{delay}D").sum()
    nb_delay = tt["TX_FRAUD"].rolling(f"{delay}D").count()
    for w in (1, 7, 30):
        fraud_all = tt["TX_FRAUD"].rolling(f"{delay + w}D").sum()
        nb_all = tt["TX_FRAUD"].rolling(f"{delay + w}D").count()
        nb = nb_all - nb_delay
        tt[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = nb.to_numpy()
        tt[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = ((fraud_all - fraud_delay) / nb).to_numpy()
    return tt.reset_index().fillna(0)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    tx = simulate(SimulationConfig(n_customers=120, n_terminals=200, nb_days=45))
    ours = transform(tx).set_index("TRANSACTION_ID").sort_index()
    ref = pd.concat(_reference_customer(g) for _, g in tx.groupby("CUSTOMER_ID"))
    ref = pd.concat(_reference_terminal(g) for _, g in ref.groupby("TERMINAL_ID"))
    return ours, ref.set_index("TRANSACTION_ID").sort_index()


@pytest.mark.parametrize("column", [c for c in MODEL_FEATURES if "WINDOW" in c])
def test_window_features_match_pandas_rolling(data, column: str) -> None:
    ours, ref = data
    np.testing.assert_allclose(ours[column].to_numpy(), ref[column].to_numpy(),
                               rtol=1e-9, atol=1e-9)


def test_flags_and_all_features_present(data) -> None:
    ours, _ = data
    assert set(MODEL_FEATURES) <= set(ours.columns)
    when = pd.DatetimeIndex(ours.TX_DATETIME)
    assert (ours.TX_DURING_WEEKEND.to_numpy() == (when.day_of_week >= 5)).all()
    assert (ours.TX_DURING_NIGHT.to_numpy() == (when.hour <= 6)).all()
    assert not ours[list(MODEL_FEATURES)].isna().any().any()


def test_terminal_risk_ignores_the_last_seven_days(data) -> None:
    ours, _ = data
    first_week = ours[ours.TX_TIME_DAYS < 7]
    assert (first_week[[c for c in MODEL_FEATURES if c.startswith("TERMINAL")]] == 0).all().all()


def test_request_round_trips_to_the_same_model_row(data) -> None:
    ours, _ = data
    row = ours.reset_index().iloc[500]
    body = to_request(row)
    parsed = {**body, "tx_datetime": datetime.fromisoformat(body["tx_datetime"])}
    np.testing.assert_allclose(to_model_row(parsed), row[list(MODEL_FEATURES)].to_numpy(float),
                               rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(("when", "weekend", "night"), [
    (datetime(2018, 8, 11, 3, 0), True, True),     # Saturday, 3 am
    (datetime(2018, 8, 13, 6, 59), False, True),   # Monday, 6:59
    (datetime(2018, 8, 13, 7, 0), False, False),   # Monday, 7:00
    (datetime(2018, 8, 12, 23, 0), True, False),   # Sunday, 11 pm
])
def test_weekend_and_night(when: datetime, weekend: bool, night: bool) -> None:
    assert is_weekend(when) is weekend
    assert is_night(when) is night
