"""Value types every layer shares: who is asking (Principal), by when the answer is due
(Invocation), and money in whole nano-dollars. aether.http builds the first two from a request;
nothing here imports anything of Aether."""

import math
import time
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["NANO", "Invocation", "Principal", "nano_usd"]

NANO = 1_000_000_000  # money is counted in integer nano-dollars wherever it is added up


def nano_usd(usd: Decimal | float) -> int:
    """An amount in whole nano-dollars, rounded up (a float is read as the decimal it prints as)."""
    exact = usd if isinstance(usd, Decimal) else Decimal(repr(usd))
    return math.ceil(exact * NANO)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    is_admin: bool
    plan: str = ""  # the plan claim's value; aether.quota falls back to DEFAULT_PLAN


@dataclass(frozen=True, slots=True)
class Invocation:
    request_id: str
    deadline: float  # time.monotonic() value by which every upstream call must be done

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()
