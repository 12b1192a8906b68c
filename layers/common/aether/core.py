"""Value types every layer shares: who is asking (Principal) and by when the answer is due
(Invocation). aether.http builds them from a request; nothing here imports anything of Aether."""

import time
from dataclasses import dataclass

__all__ = ["Invocation", "Principal"]


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
