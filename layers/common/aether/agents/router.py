"""The router: which agent answers a message, what kind of task it is, and which model tier it needs.

A small linear model trained offline (`aether-local router train`, on the sources listed in
docs/ROUTER_DATA.md) gives two probability distributions: over the five agents and over the task
kinds. It reads the message's features (features.py), and the mean of its words' vectors (word
vectors distilled from a sentence-embedding model, so that words the training data never showed
still count by their meaning); being linear, the vectors ship already multiplied by the weights:
one row of scores per word. The weights are data (router.weights, int8 with one scale per output
and table), read on the first decision, not at import.

- Agent: the most probable one; under the trained `agent_min_confidence` the stated default
  (DEFAULT_AGENT); a message that names an agent (`@quinn`) gets that agent. In a conversation,
  the agent that answered before keeps the follow-up unless the new message is, with at least
  STICKY_CONFIDENCE, another agent's.
- Tier: large when the most probable task kind is one of LARGE_TASKS; when the task kind is
  uncertain (under `task_min_confidence`), large as soon as those kinds together reach
  `lean_large_at`: quality before savings when a message may be math, reasoning or code.
"""

import json
import math
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aether.agents.catalog import AGENTS, DEFAULT_AGENT
from aether.agents.features import FEATURES_VERSION, SHAPE, features, words
from aether.llm.catalog import Tier

__all__ = [
    "LARGE_TASKS",
    "STICKY_CONFIDENCE",
    "TASKS",
    "WEIGHTS",
    "Conversation",
    "Route",
    "Weights",
    "route",
    "weights",
]

TASKS = ("math", "reasoning", "code", "writing", "roleplay", "extraction", "summarisation", "open_qa")
LARGE_TASKS = frozenset({"math", "reasoning", "code"})
STICKY_CONFIDENCE = 0.8
WEIGHTS = Path(__file__).with_name("router.weights")
MAGIC = b"AETHER-ROUTER\n"

Reason = Literal["classifier", "low confidence", "named", "conversation", "requested", "escalated"]
_MENTION = re.compile(r"(?<![\w@])@(" + "|".join(AGENTS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Route:
    agent: str
    agent_confidence: float
    task: str
    task_confidence: float
    tier: Tier
    tier_confidence: float  # the probability of the tier chosen: P(large tasks) or 1 - it
    agents: dict[str, float]  # every agent's probability
    reason: Reason  # how the agent was chosen

    @property
    def ranked(self) -> list[str]:
        """Every agent, most probable first."""
        return sorted(self.agents, key=lambda a: -self.agents[a])

    def with_agent(self, agent: str) -> "Route":
        """The same task and tier for an agent the request named."""
        return replace(self, agent=agent, agent_confidence=1.0, reason="requested")

    def summary(self) -> dict[str, Any]:
        """What responses show as `routing`."""
        return {
            "agent": self.agent,
            "agent_confidence": round(self.agent_confidence, 3),
            "agent_reason": self.reason,
            "task": self.task,
            "task_confidence": round(self.task_confidence, 3),
            "tier": self.tier,
            "tier_confidence": round(self.tier_confidence, 3),
        }


@dataclass(frozen=True, slots=True)
class Conversation:
    """What a follow-up is routed with: the agent that answered the conversation before, if known,
    else the caller's earlier messages (whose agent is then the one they route to)."""

    agent: str | None = None
    earlier: str = ""


class _Rows(dict[str, tuple[int, ...] | None]):
    """Name -> its row of int8 scores, made from the table on the name's first use (so loading is
    only reading the names); an unknown name is None, and is not remembered."""

    def __init__(self, table: memoryview, width: int, numbers: dict[str, int]) -> None:
        super().__init__()
        self._table, self._width, self._numbers = table, width, numbers

    def __missing__(self, name: str) -> tuple[int, ...] | None:
        number = self._numbers.get(name)
        if number is None:
            return None
        row = self[name] = tuple(self._table[number * self._width : (number + 1) * self._width])
        return row

    def __len__(self) -> int:
        return len(self._numbers)


class Weights:
    """The trained model: feature -> int8 row of every output's weight, and per-output scale and bias."""

    def __init__(self, blob: bytes) -> None:
        if not blob.startswith(MAGIC):
            raise ValueError("not a router weights file")
        header_end = blob.index(b"\n", len(MAGIC))
        header = json.loads(blob[len(MAGIC) : header_end])
        if header["features_version"] != FEATURES_VERSION:
            raise ValueError(
                f"weights read features v{header['features_version']}, this code makes v{FEATURES_VERSION}"
            )
        self.header: dict[str, Any] = header
        self.agents: tuple[str, ...] = tuple(header["agents"])
        self.tasks: tuple[str, ...] = tuple(header["tasks"])
        self.thresholds: dict[str, float] = header["thresholds"]
        self.scale: tuple[float, ...] = tuple(header["scale"])
        self.bias: tuple[float, ...] = tuple(header["bias"])
        self.word_scale: tuple[float, ...] = tuple(header["word_scale"])
        width = len(self.agents) + len(self.tasks)
        start = header_end + 1
        names = _lines(blob[start : start + header["vocabulary_bytes"]])
        start += header["vocabulary_bytes"]
        word_names = _lines(blob[start : start + header["words_bytes"]])
        table = memoryview(blob[start + header["words_bytes"] :]).cast("b")  # features', then words'
        if len(table) != (len(names) + len(word_names)) * width:
            raise ValueError("the weights file is cut short or too long")
        self.rows = _Rows(table, width, dict(zip(names, range(len(names)), strict=True)))
        numbers = range(len(names), len(names) + len(word_names))
        self.word_rows = _Rows(table, width, dict(zip(word_names, numbers, strict=True)))
        self.shape = frozenset(f for f in names if f.startswith(SHAPE))

    def probabilities(self, message: str) -> tuple[dict[str, float], dict[str, float]]:
        """P(agent) and P(task kind) for a message.

        A head's logit is its bias, plus the sum of the message's known feature weights divided by
        the square root of how many it knows (binary features of unit length, as in training; the
        shape features feed only the task head, so the agent head does not count them), plus the
        mean of its known words' rows.
        """
        found = features(message)
        hits = list(filter(None, map(self.rows.__getitem__, found)))
        known = list(filter(None, map(self.word_rows.__getitem__, words(message))))
        cut = len(self.agents)
        agent_features = len(hits) - len(found & self.shape)
        norms = [1 / math.sqrt(agent_features) if agent_features else 0.0] * cut
        norms += [1 / math.sqrt(len(hits)) if hits else 0.0] * len(self.tasks)
        logits = list(self.bias)
        for o, total in enumerate(_column_sums(hits, len(logits))):
            logits[o] += total * self.scale[o] * norms[o]
        if known:
            for o, total in enumerate(_column_sums(known, len(logits))):
                logits[o] += total * self.word_scale[o] / len(known)  # the mean of the words' rows
        return _softmax(self.agents, logits[:cut]), _softmax(self.tasks, logits[cut:])

    def route(self, message: str, conversation: Conversation | None = None) -> Route:
        agents, tasks = self.probabilities(message)
        agent, agent_p = _best(agents)
        reason: Reason = "classifier"
        named = _MENTION.search(message)
        if named:
            agent, agent_p, reason = named.group(1).lower(), 1.0, "named"
        elif (
            conversation is not None
            and (before := self._conversation_agent(conversation))
            and agent != before
            and agent_p < STICKY_CONFIDENCE
        ):
            agent, agent_p, reason = before, agents[before], "conversation"
        if reason == "classifier" and agent_p < self.thresholds["agent_min_confidence"]:
            agent, agent_p, reason = DEFAULT_AGENT, agents[DEFAULT_AGENT], "low confidence"
        task, task_p = _best(tasks)
        large_p = sum(p for t, p in tasks.items() if t in LARGE_TASKS)
        if task_p >= self.thresholds["task_min_confidence"]:
            tier: Tier = "large" if task in LARGE_TASKS else "small"
        else:
            tier = "large" if large_p >= self.thresholds["lean_large_at"] else "small"
        tier_p = large_p if tier == "large" else 1 - large_p
        return Route(agent, agent_p, task, task_p, tier, tier_p, agents, reason)

    def _conversation_agent(self, conversation: Conversation) -> str | None:
        if conversation.agent in AGENTS:
            return conversation.agent
        if conversation.earlier.strip():
            return _best(self.probabilities(conversation.earlier)[0])[0]
        return None


def _lines(data: bytes) -> list[str]:
    return data.decode().split("\n") if data else []


def _column_sums(rows: list[tuple[int, ...]], width: int) -> list[int]:
    return [sum(column) for column in zip(*rows, strict=True)] if rows else [0] * width


def _softmax(names: tuple[str, ...], logits: list[float]) -> dict[str, float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return {name: e / total for name, e in zip(names, exps, strict=True)}


def _best(probabilities: dict[str, float]) -> tuple[str, float]:
    name = max(probabilities, key=probabilities.__getitem__)
    return name, probabilities[name]


@cache
def weights() -> Weights:
    """The shipped weights, read once per environment on the first decision."""
    return Weights(WEIGHTS.read_bytes())


def route(message: str, conversation: Conversation | None = None) -> Route:
    """The agent, task kind and tier for a message, with their probabilities (no I/O)."""
    return weights().route(message, conversation)
