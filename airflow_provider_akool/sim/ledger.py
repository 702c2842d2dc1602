"""Credit ledger: sessions are pre-charged for their whole duration and refunded for unused time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LedgerEntry:
    at_ms: int
    kind: str  # "precharge" | "refund"
    session_id: str
    amount: float


@dataclass
class Ledger:
    initial: float
    balance: float = 0.0
    precharged_total: float = 0.0
    refunded_total: float = 0.0
    entries: list[LedgerEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.balance = self.initial

    def can_pay(self, amount: float) -> bool:
        return self.balance + 1e-9 >= amount

    def precharge(self, session_id: str, amount: float, at_ms: int) -> None:
        self.balance = round(self.balance - amount, 6)
        self.precharged_total = round(self.precharged_total + amount, 6)
        self.entries.append(LedgerEntry(at_ms, "precharge", session_id, amount))

    def refund(self, session_id: str, amount: float, at_ms: int) -> None:
        self.balance = round(self.balance + amount, 6)
        self.refunded_total = round(self.refunded_total + amount, 6)
        self.entries.append(LedgerEntry(at_ms, "refund", session_id, amount))

    def snapshot(self) -> dict[str, Any]:
        return {
            "initial": self.initial,
            "balance": self.balance,
            "precharged_total": self.precharged_total,
            "refunded_total": self.refunded_total,
            "spent_total": round(self.precharged_total - self.refunded_total, 6),
            "entries": [vars(e).copy() for e in self.entries],
        }
