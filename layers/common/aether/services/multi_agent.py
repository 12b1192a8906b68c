"""Several agents answer in parallel, each within its own deadline; one synthesis merges them."""

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from aether import quota
from aether.agents.catalog import AGENTS
from aether.agents.choice import ModelChoice, choose_model
from aether.agents.router import route
from aether.cache import get_cache
from aether.cache.responses import normalize
from aether.cache.tiered import Uncacheable
from aether.core import Invocation, Principal
from aether.errors import UpstreamError, UpstreamTimeout
from aether.llm.catalog import TIERS, prompt_tokens_at_most
from aether.llm.client import Completion, complete
from aether.services.answering import usage_record
from aether.services.chat import Asked
from aether.settings import get_settings
from aether.store import usage

__all__ = ["AgentResult", "MultiAgentAnswer", "MultiAgentRequest", "multi_agent"]

ENDPOINT = "chat/multi-agent"
SYNTHESIS_PROMPT = (
    "You lead a team of specialists. Merge their answers to the user's question into one answer: "
    "keep what they agree on, resolve or flag disagreements, and credit each specialist briefly."
)


class MultiAgentRequest(Asked):
    agents: list[str] | None = None  # None: the router picks the best MULTI_AGENT_DEFAULT agents
    max_tokens: int = Field(1024, ge=1, le=8192)

    @field_validator("agents")
    @classmethod
    def _agents(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        limit = get_settings().multi_agent_max
        unknown = [a for a in value if a not in AGENTS]
        if unknown:
            raise ValueError(f"unknown agent(s) {', '.join(unknown)}; choose from {', '.join(AGENTS)}")
        if not value or len(value) > limit:
            raise ValueError(f"give between 1 and {limit} agents")
        if len(set(value)) != len(value):
            raise ValueError("each agent may be named once")
        return value


class Part(BaseModel):
    status: Literal["ok", "failed", "timeout"]
    content: str | None = None
    model: str | None = None
    model_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None


class AgentResult(Part):
    agent: str


class Totals(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float


class MultiAgentAnswer(BaseModel):
    agents: list[AgentResult]
    synthesis: Part
    totals: Totals
    chosen_by: Literal["request", "router"]
    request_id: str
    cached: bool = False
    cache_tier: str | None = None
    saved_cost_usd: float = 0.0


async def _ask(
    agent: str, choice: ModelChoice, message: str, request: MultiAgentRequest, invocation: Invocation
) -> tuple[AgentResult, Completion | None]:
    """The agent's answer, and the call to charge: its Completion, or a cut one (Completion.cut)
    when the call reached a model and ended without an answer; None when it reached none."""
    started = time.perf_counter()
    messages = _agent_messages(agent, message)
    try:
        completion = await complete(
            choice.chain,
            messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            invocation=invocation,
        )
    except (UpstreamError, UpstreamTimeout) as exc:
        fields, cut = _unanswered(exc, messages, request.max_tokens, started)
        return AgentResult(agent=agent, **fields), cut
    reason = choice.explain(completion.model)
    return AgentResult(agent=agent, status="ok", model_reason=reason, **_part_fields(completion)), completion


def _unanswered(
    exc: UpstreamError | UpstreamTimeout, messages: list[dict[str, str]], max_tokens: int, started: float
) -> tuple[dict[str, Any], Completion | None]:
    """A call that gave no answer: its Part's fields, and what it is charged if it reached a model
    (Completion.cut, shown in the Part's tokens and cost) or None if it reached none."""
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    fields: dict[str, Any] = {
        "status": "timeout" if isinstance(exc, UpstreamTimeout) else "failed",
        "error": exc.message,
        "latency_ms": elapsed,
    }
    if exc.model is None:
        return fields, None
    cut = replace(Completion.cut(exc.model, messages, None, max_tokens), latency_ms=elapsed)
    return fields | _part_fields(cut) | {"content": None}, cut


def _agent_messages(agent: str, message: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": AGENTS[agent].system_prompt}, {"role": "user", "content": message}]


def _worst_case_usd(agents: list[str], choice: ModelChoice, message: str, max_tokens: int) -> Decimal:
    """The whole fan-out's worst case: every agent's call, and a synthesis of their longest answers."""
    asks = sum(
        (quota.worst_case_usd(choice.chain, _agent_messages(a, message), max_tokens) for a in agents),
        Decimal(0),
    )
    synthesis = [{"role": "system", "content": SYNTHESIS_PROMPT}, {"role": "user", "content": message}]
    framing = 64  # "Question:", "Specialists' answers:" and each answer's heading, per agent and once
    unseen = len(agents) * (max_tokens + framing) + framing
    return asks + quota.worst_case_usd(TIERS["large"], synthesis, max_tokens, unseen)


def _part_fields(completion: Completion) -> dict[str, Any]:
    return {**completion.answer(), "latency_ms": completion.latency_ms}


async def _synthesise(
    message: str, results: list[AgentResult], request: MultiAgentRequest, invocation: Invocation
) -> tuple[Part, Completion | None]:
    """The synthesis, and the call to charge (as _ask)."""
    started = time.perf_counter()
    answers = "\n\n".join(f"## {r.agent} ({AGENTS[r.agent].role})\n{r.content}" for r in results)
    messages = [
        {"role": "system", "content": SYNTHESIS_PROMPT},
        {"role": "user", "content": f"Question:\n{message}\n\nSpecialists' answers:\n{answers}"},
    ]
    try:
        completion = await complete(
            TIERS["large"],
            messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            invocation=invocation,
        )
    except (UpstreamError, UpstreamTimeout) as exc:
        fields, cut = _unanswered(exc, messages, request.max_tokens, started)
        return Part(**fields), cut
    return Part(status="ok", model_reason="large tier: synthesis", **_part_fields(completion)), completion


@dataclass
class _FanOut:
    """The agents' calls and the synthesis of one request, within one reservation."""

    request: MultiAgentRequest
    principal: Principal
    invocation: Invocation
    agents: list[str]
    choice: ModelChoice
    task: str
    started: float
    calls: list[usage.UsageRecord] = field(default_factory=list)

    async def compute(self) -> bytes:
        """The whole fan-out is reserved before it starts; whatever happens, every call that
        reached a model is recorded and the reservation settled to what they cost."""
        worst = _worst_case_usd(self.agents, self.choice, self.request.message, self.request.max_tokens)
        reservation = await quota.reserve(self.principal, worst)
        try:
            return await self._answers()
        finally:
            await quota.charge(reservation, self.calls)

    def _charge(self, agent: str, completion: Completion, *, answered: bool) -> None:
        record = usage_record(
            self.principal,
            self.invocation,
            ENDPOINT,
            agent,
            completion,
            latency_ms=completion.latency_ms,
            task=self.task,
        )
        self.calls.append(record if answered else replace(record, partial=True))

    async def _answers(self) -> bytes:
        settings, request = get_settings(), self.request
        # Each agent must finish early enough to leave the synthesis its reserve.
        agent_deadline = min(
            self.invocation.deadline - settings.multi_agent_synthesis_reserve_ms / 1000,
            time.monotonic() + settings.multi_agent_timeout_ms / 1000,
        )
        per_agent = replace(self.invocation, deadline=agent_deadline)
        asked = (_ask(a, self.choice, request.message, request, per_agent) for a in self.agents)
        outcomes = await asyncio.gather(*asked)
        results = [result for result, _ in outcomes]
        for result, charged in outcomes:
            if charged is not None:
                self._charge(result.agent, charged, answered=result.status == "ok")
        succeeded = [r for r in results if r.status == "ok"]
        if not succeeded:
            failures = "; ".join(f"{r.agent}: {r.status} ({r.error})" for r in results)
            raise UpstreamError(f"every agent failed: {failures}")
        synthesis, completion = await _synthesise(request.message, succeeded, request, self.invocation)
        if completion is not None:
            self._charge("synthesis", completion, answered=synthesis.status == "ok")
        answer = {
            "agents": [r.model_dump() for r in results],
            "synthesis": synthesis.model_dump(),
            "totals": _totals(results, synthesis, self.started),
        }
        encoded = json.dumps(answer, separators=(",", ":")).encode()
        if len(succeeded) < len(results) or synthesis.status != "ok":
            raise Uncacheable(encoded)  # a partial answer is returned, never cached
        return encoded


async def multi_agent(
    request: MultiAgentRequest, principal: Principal, invocation: Invocation
) -> MultiAgentAnswer:
    settings = get_settings()
    started = time.perf_counter()
    await quota.admit(principal)
    decision = route(request.message)  # one task kind and tier for every agent's answer
    agents = request.agents or decision.ranked[: settings.multi_agent_default]
    longest = max(prompt_tokens_at_most(_agent_messages(a, request.message)) for a in agents)
    choice = choose_model(decision, longest + request.max_tokens)
    fan_out = _FanOut(request, principal, invocation, agents, choice, decision.task, started)
    material = ["multi", agents, normalize(request.message), request.temperature, request.max_tokens]
    lookup = await get_cache().get_or_compute(
        principal.user_id,
        hashlib.sha256(json.dumps(material).encode()).hexdigest(),
        fan_out.compute,
        ttl_s=settings.response_cache_ttl_s,
        tiers=("l2", "l3"),
        deadline=invocation.deadline,
    )
    chosen_by: Literal["request", "router"] = "request" if request.agents else "router"
    answer = MultiAgentAnswer(
        **json.loads(lookup.value), chosen_by=chosen_by, request_id=invocation.request_id
    )
    if not fan_out.calls:  # computed, its calls were recorded with the computing
        await usage.record(_hit(fan_out, answer, lookup.tier))
    return answer


def _hit(fan_out: _FanOut, answer: MultiAgentAnswer, cache_tier: str | None) -> usage.UsageRecord:
    """Answered from the cache: one record of the hit, nothing spent."""
    principal, invocation = fan_out.principal, fan_out.invocation
    latency_ms = round((time.perf_counter() - fan_out.started) * 1000, 2)
    answer.cached, answer.cache_tier = True, cache_tier
    answer.saved_cost_usd, answer.totals.cost_usd = answer.totals.cost_usd, 0.0
    answer.totals.latency_ms = latency_ms
    hit = usage.UsageRecord(
        user_id=principal.user_id,
        endpoint=ENDPOINT,
        agent="+".join(fan_out.agents),
        model="-",
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        latency_ms=latency_ms,
        request_id=invocation.request_id,
        cache_tier=cache_tier,
        task=fan_out.task,
    )
    return hit


def _totals(results: list[AgentResult], synthesis: Part, started: float) -> dict[str, float]:
    parts: list[Part] = [*results, synthesis]
    return {
        "prompt_tokens": sum(p.prompt_tokens for p in parts),
        "completion_tokens": sum(p.completion_tokens for p in parts),
        "cost_usd": sum(p.cost_usd for p in parts),
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
