"""The feature contract: what one transaction sent to ``POST /predict`` holds.

A bank's scoring service does not see raw history; an upstream feature store enriches each
transaction with the customer's recent spending and the terminal's recent fraud risk. The
request therefore carries the raw transaction plus those aggregates, named after the Fraud
Detection Handbook's chapter-3 columns (``service.features`` computes them from the simulator).

The model itself takes the 15 ``MODEL_FEATURES`` in this order, as float32; the weekend and
night flags are derived from ``tx_datetime`` by the service (``to_model_row``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Field:
    """One request field: its JSON type, bounds and the handbook column it feeds."""

    name: str
    kind: str  # "integer", "number" or "datetime"
    description: str
    column: str | None = None  # handbook column, None when not a model input
    minimum: float | None = None
    maximum: float | None = None
    required: bool = True
    example: object = None


WINDOWS = (1, 7, 30)

_IDENTIFIERS = (
    Field("transaction_id", "integer", "Caller's id, echoed back.", minimum=0,
          required=False, example=1_236_829),
    Field("customer_id", "integer", "The card holder (CUSTOMER_ID).", minimum=0, example=4961),
    Field("terminal_id", "integer", "The payment terminal (TERMINAL_ID).", minimum=0,
          example=3412),
    Field("tx_datetime", "datetime",
          "ISO 8601 time of the transaction, e.g. 2018-08-08T10:21:54; gives the weekend "
          "(Saturday/Sunday) and night (hour <= 6) flags.", example="2018-08-08T10:21:54"),
    Field("tx_amount", "number", "Amount of the transaction (TX_AMOUNT).", "TX_AMOUNT",
          minimum=0.0, maximum=1_000_000.0, example=57.16),
)


def _customer_fields() -> tuple[Field, ...]:
    examples = {1: (2, 46.95), 7: (9, 54.36), 30: (34, 53.79)}
    fields: list[Field] = []
    for w in WINDOWS:
        nb, avg = examples[w]
        fields.append(Field(
            f"customer_nb_tx_{w}day", "integer",
            f"Transactions of this customer in the last {w} day(s), this one included.",
            f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", minimum=0, maximum=1_000_000, example=nb))
        fields.append(Field(
            f"customer_avg_amount_{w}day", "number",
            f"Mean amount of this customer's transactions in the last {w} day(s).",
            f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW", minimum=0.0, maximum=1_000_000.0,
            example=avg))
    return tuple(fields)


def _terminal_fields() -> tuple[Field, ...]:
    examples = {1: (3, 0.0), 7: (12, 0.0), 30: (58, 0.0172)}
    fields: list[Field] = []
    for w in WINDOWS:
        nb, risk = examples[w]
        fields.append(Field(
            f"terminal_nb_tx_{w}day", "integer",
            f"Transactions at this terminal in the {w} day(s) before the 7-day delay period.",
            f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", minimum=0, maximum=1_000_000, example=nb))
        fields.append(Field(
            f"terminal_risk_{w}day", "number",
            f"Share of known frauds at this terminal over the same {w}-day window "
            "(known after a 7-day delay).",
            f"TERMINAL_ID_RISK_{w}DAY_WINDOW", minimum=0.0, maximum=1.0, example=risk))
    return tuple(fields)


FIELDS: tuple[Field, ...] = _IDENTIFIERS + _customer_fields() + _terminal_fields()
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

MODEL_FEATURES: tuple[str, ...] = (
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in WINDOWS for k in ("NB_TX", "AVG_AMOUNT")),
    *(f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in WINDOWS for k in ("NB_TX", "RISK")),
)
"""The handbook's 15 input features, in the order the model expects them."""

_COLUMN_TO_FIELD = {f.column: f.name for f in FIELDS if f.column}


def is_weekend(when: datetime) -> bool:
    """Saturday or Sunday, as the handbook's TX_DURING_WEEKEND."""
    return when.weekday() >= 5


def is_night(when: datetime) -> bool:
    """Between midnight and 6:59, as the handbook's TX_DURING_NIGHT (hour <= 6)."""
    return when.hour <= 6


def to_model_row(tx: dict) -> list[float]:
    """One validated transaction as the model's 15 inputs, in ``MODEL_FEATURES`` order."""
    when: datetime = tx["tx_datetime"]
    row: list[float] = []
    for column in MODEL_FEATURES:
        if column == "TX_DURING_WEEKEND":
            row.append(float(is_weekend(when)))
        elif column == "TX_DURING_NIGHT":
            row.append(float(is_night(when)))
        else:
            row.append(float(tx[_COLUMN_TO_FIELD[column]]))
    return row


def example_transaction() -> dict:
    """A valid request body for one transaction (JSON-ready)."""
    return {f.name: f.example for f in FIELDS}
