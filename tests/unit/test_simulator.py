"""The handbook's simulator: determinism, its draws, its rules (small configurations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.simulator import (
    SECONDS_PER_DAY,
    SimulationConfig,
    customer_profiles,
    simulate,
    terminal_profiles,
)

SMALL = SimulationConfig(n_customers=150, n_terminals=300, nb_days=30)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate(SMALL)


def test_same_config_gives_identical_dataset(small: pd.DataFrame) -> None:
    again = simulate(SMALL)
    pd.testing.assert_frame_equal(small, again)


def test_other_sizes_give_other_data(small: pd.DataFrame) -> None:
    other = simulate(SimulationConfig(n_customers=151, n_terminals=300, nb_days=30))
    assert len(other) != len(small) or not other.TX_AMOUNT.equals(small.TX_AMOUNT)


def test_profiles_draw_like_the_handbooks_loop() -> None:
    """The vectorised profiles equal the handbook's per-customer np.random.uniform loop."""
    np.random.seed(0)
    expected = []
    for _ in range(50):
        x, y = np.random.uniform(0, 100), np.random.uniform(0, 100)
        mean = np.random.uniform(5, 100)
        expected.append([x, y, mean, mean / 2, np.random.uniform(0, 4)])
    got = customer_profiles(50)[["x_customer_id", "y_customer_id", "mean_amount",
                                 "std_amount", "mean_nb_tx_per_day"]].to_numpy()
    np.testing.assert_allclose(got, np.array(expected), rtol=0, atol=1e-12)

    np.random.seed(1)
    terminals = [[np.random.uniform(0, 100), np.random.uniform(0, 100)] for _ in range(40)]
    got = terminal_profiles(40)[["x_terminal_id", "y_terminal_id"]].to_numpy()
    np.testing.assert_allclose(got, np.array(terminals), rtol=0, atol=1e-12)


def test_transactions_are_ordered_and_well_formed(small: pd.DataFrame) -> None:
    assert small.TRANSACTION_ID.tolist() == list(range(len(small)))
    assert small.TX_DATETIME.is_monotonic_increasing
    seconds_of_day = small.TX_TIME_SECONDS % SECONDS_PER_DAY
    assert seconds_of_day.between(1, SECONDS_PER_DAY - 1).all()
    assert (small.TX_TIME_SECONDS // SECONDS_PER_DAY == small.TX_TIME_DAYS).all()
    assert (small.TX_AMOUNT >= 0).all()
    assert small.TX_TIME_DAYS.max() < SMALL.nb_days
    # Around noon: the handbook draws N(43200, 20000) seconds.
    assert abs(seconds_of_day.mean() - SECONDS_PER_DAY / 2) < 1500


def test_customers_use_only_terminals_within_radius(small: pd.DataFrame) -> None:
    customers = customer_profiles(SMALL.n_customers).set_index("CUSTOMER_ID")
    terminals = terminal_profiles(SMALL.n_terminals).set_index("TERMINAL_ID")
    c = customers.loc[small.CUSTOMER_ID, ["x_customer_id", "y_customer_id"]].to_numpy()
    t = terminals.loc[small.TERMINAL_ID, ["x_terminal_id", "y_terminal_id"]].to_numpy()
    assert (np.sqrt(((c - t) ** 2).sum(axis=1)) < SMALL.radius).all()


def test_fraud_scenarios_follow_the_rules(small: pd.DataFrame) -> None:
    s1 = small[small.TX_FRAUD_SCENARIO == 1]
    assert (s1.TX_AMOUNT > 220).all()
    assert (small[small.TX_FRAUD_SCENARIO > 0].TX_FRAUD == 1).all()
    assert (small[small.TX_FRAUD_SCENARIO == 0].TX_FRAUD == 0).all()
    # Any amount over 220 is a fraud (scenario 1, or a later scenario that relabelled it).
    assert (small[small.TX_AMOUNT > 220].TX_FRAUD == 1).all()
    added = small.attrs["frauds_added_by_scenario"]
    assert sum(added.values()) == small.TX_FRAUD.sum()
    assert added[2] > 0 and added[3] > 0


def test_scenario_two_compromises_two_terminals_per_day_for_28_days() -> None:
    cfg = SimulationConfig(n_customers=200, n_terminals=50, nb_days=10)
    tx = simulate(cfg)
    terminals = terminal_profiles(cfg.n_terminals)
    compromised_day0 = set(terminals.TERMINAL_ID.sample(n=2, random_state=0))
    at = tx[tx.TERMINAL_ID.isin(compromised_day0)]
    assert len(at) > 0 and (at.TX_FRAUD == 1).all()


def test_scenario_three_multiplies_amounts_by_five() -> None:
    tx = simulate(SMALL)
    s3 = tx[tx.TX_FRAUD_SCENARIO == 3]
    assert len(s3) > 0
    # Amounts were rounded to cents before being multiplied by 5 (possibly more than once).
    cents = np.round(s3.TX_AMOUNT.to_numpy() * 100)
    assert (cents % 5 == 0).all()
