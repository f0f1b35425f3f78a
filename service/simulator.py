"""The Fraud Detection Handbook's transaction simulator, reproduced draw for draw.

Chapter 3 of Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud Detection*
(``Chapter_3_GettingStarted/SimulatedDataset.ipynb``): customers and terminals on a 100×100
grid, each customer using the terminals within radius ``r``; per day a Poisson number of
transactions around noon; three fraud scenarios. The random streams are seeded exactly as the
handbook seeds them (profiles from seeds 0 and 1, each customer's transactions from its id,
frauds from the day), so the default configuration gives the handbook's 1,754,155
transactions. The only deliberate difference: transactions are ordered with a stable sort, so
the ids of same-second transactions do not depend on the machine's sort kernel.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SimulationConfig:
    """The simulator's parameters; the defaults are the handbook's dataset."""

    n_customers: int = 5000
    n_terminals: int = 10_000
    nb_days: int = 183
    start_date: str = "2018-04-01"
    radius: float = 5.0

    def key(self) -> str:
        """A short name for caching a generated dataset."""
        return (f"c{self.n_customers}-t{self.n_terminals}-d{self.nb_days}"
                f"-{self.start_date}-r{self.radius:g}")


def customer_profiles(n_customers: int, random_state: int = 0) -> pd.DataFrame:
    """Location, spending mean/std and mean transactions per day of each customer."""
    rs = np.random.RandomState(random_state)
    u = rs.random_sample((n_customers, 4))  # same doubles, same order as the handbook's loop
    mean_amount = 5 + 95 * u[:, 2]
    return pd.DataFrame({
        "CUSTOMER_ID": np.arange(n_customers),
        "x_customer_id": 100 * u[:, 0],
        "y_customer_id": 100 * u[:, 1],
        "mean_amount": mean_amount,
        "std_amount": mean_amount / 2,
        "mean_nb_tx_per_day": 4 * u[:, 3],
    })


def terminal_profiles(n_terminals: int, random_state: int = 1) -> pd.DataFrame:
    """Location of each terminal."""
    rs = np.random.RandomState(random_state)
    u = rs.random_sample((n_terminals, 2))
    return pd.DataFrame({
        "TERMINAL_ID": np.arange(n_terminals),
        "x_terminal_id": 100 * u[:, 0],
        "y_terminal_id": 100 * u[:, 1],
    })


def terminals_within_radius(customers: pd.DataFrame, terminals: pd.DataFrame,
                            radius: float) -> list[list[int]]:
    """For each customer, the ids of the terminals closer than ``radius``."""
    xy_t = terminals[["x_terminal_id", "y_terminal_id"]].to_numpy(float)
    xy_c = customers[["x_customer_id", "y_customer_id"]].to_numpy(float)
    out = []
    for xy in xy_c:
        dist = np.sqrt(np.sum(np.square(xy - xy_t), axis=1))
        out.append([int(i) for i in np.where(dist < radius)[0]])
    return out


def _customer_transactions(customer_id: int, mean_amount: float, std_amount: float,
                           mean_nb_tx: float, available: list[int], nb_days: int,
                           out: list[tuple[int, int, int, int, float]]) -> None:
    """Append one customer's transactions, drawing exactly as the handbook does."""
    py_rng = random.Random(customer_id)
    rs = np.random.RandomState(customer_id)
    poisson, normal, uniform = rs.poisson, rs.normal, rs.uniform
    for day in range(nb_days):
        for _ in range(poisson(mean_nb_tx)):
            time_tx = int(normal(SECONDS_PER_DAY / 2, 20_000))
            if 0 < time_tx < SECONDS_PER_DAY:
                amount = normal(mean_amount, std_amount)
                if amount < 0:
                    amount = uniform(0, mean_amount * 2)
                amount = float(np.round(amount, decimals=2))
                if available:
                    terminal = py_rng.choice(available)
                    out.append((time_tx + day * SECONDS_PER_DAY, day, customer_id, terminal,
                                amount))


def generate_transactions(customers: pd.DataFrame, available: list[list[int]],
                          nb_days: int, start_date: str) -> pd.DataFrame:
    """All genuine transactions, ordered by time, with TRANSACTION_ID and TX_DATETIME."""
    rows: list[tuple[int, int, int, int, float]] = []
    for cid, mean, std, nb, terms in zip(
            customers.CUSTOMER_ID.to_numpy(), customers.mean_amount.to_numpy(),
            customers.std_amount.to_numpy(), customers.mean_nb_tx_per_day.to_numpy(),
            available, strict=True):
        _customer_transactions(int(cid), float(mean), float(std), float(nb), terms, nb_days,
                               rows)
    df = pd.DataFrame(rows, columns=["TX_TIME_SECONDS", "TX_TIME_DAYS", "CUSTOMER_ID",
                                     "TERMINAL_ID", "TX_AMOUNT"])
    df["TX_DATETIME"] = pd.to_datetime(df["TX_TIME_SECONDS"], unit="s", origin=start_date)
    df = df.sort_values("TX_DATETIME", kind="stable").reset_index(drop=True)
    df.insert(0, "TRANSACTION_ID", np.arange(len(df)))
    return df[["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
               "TX_TIME_SECONDS", "TX_TIME_DAYS"]]


def add_frauds(customers: pd.DataFrame, terminals: pd.DataFrame,
               tx: pd.DataFrame) -> pd.DataFrame:
    """The handbook's three fraud scenarios, in its order (scenario 3 can overwrite 1 and 2).

    1. any amount above 220 is a fraud;
    2. each day two terminals are compromised: all their transactions in the next 28 days;
    3. each day three customers are compromised: a third of their transactions in the next
       14 days get five times the amount and are frauds.

    ``attrs["frauds_added_by_scenario"]`` counts the frauds each scenario added, as the
    handbook prints them (978, 9,099 and 4,604 on the default dataset).
    """
    tx = tx.copy()
    fraud = np.zeros(len(tx), dtype=np.int64)
    scenario = np.zeros(len(tx), dtype=np.int64)
    amount = tx["TX_AMOUNT"].to_numpy(dtype=float, copy=True)
    days = tx["TX_TIME_DAYS"].to_numpy()
    terminal_ids = tx["TERMINAL_ID"].to_numpy()
    customer_ids = tx["CUSTOMER_ID"].to_numpy()

    added = {}
    big = amount > 220
    fraud[big], scenario[big] = 1, 1
    added[1] = int(fraud.sum())

    last_day = int(days.max()) if len(tx) else 0
    for day in range(last_day):
        compromised = terminals.TERMINAL_ID.sample(n=2, random_state=day).to_numpy()
        hit = (days >= day) & (days < day + 28) & np.isin(terminal_ids, compromised)
        fraud[hit], scenario[hit] = 1, 2
    added[2] = int(fraud.sum()) - added[1]

    for day in range(last_day):
        compromised = customers.CUSTOMER_ID.sample(n=3, random_state=day).to_numpy()
        hit = np.flatnonzero((days >= day) & (days < day + 14)
                             & np.isin(customer_ids, compromised))
        chosen = np.array(random.Random(day).sample(list(hit), k=len(hit) // 3), dtype=int)
        if len(chosen):
            amount[chosen] = amount[chosen] * 5
            fraud[chosen], scenario[chosen] = 1, 3
    added[3] = int(fraud.sum()) - added[1] - added[2]

    tx["TX_AMOUNT"] = amount
    tx["TX_FRAUD"] = fraud
    tx["TX_FRAUD_SCENARIO"] = scenario
    tx.attrs["frauds_added_by_scenario"] = added
    return tx


def simulate(config: SimulationConfig = SimulationConfig()) -> pd.DataFrame:
    """Generate the labelled transactions of one simulated dataset (deterministic)."""
    customers = customer_profiles(config.n_customers, random_state=0)
    terminals = terminal_profiles(config.n_terminals, random_state=1)
    available = terminals_within_radius(customers, terminals, config.radius)
    tx = generate_transactions(customers, available, config.nb_days, config.start_date)
    return add_frauds(customers, terminals, tx)
