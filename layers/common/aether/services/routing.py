"""Who answers: the agent a request names, else the router's; and, when the router is unsure and
ROUTER_ESCALATION_MS is set, the small model's one-word opinion.

Escalation (off by default) asks the first small-tier model to name one agent, with
temperature 0 and at most ESCALATION_TOKENS tokens, within ROUTER_ESCALATION_MS of the request's
deadline. Its answer is cached by a hash of the message (L1 and L3, shared: it holds only an agent
name), and the call is reserved, recorded and charged like any other (endpoint `router`; a call
cut by its deadline is charged ESCALATION_TOKENS). A model that fails, is late or answers with no
agent's name leaves the router's decision as it was.
"""

import asyncio
import hashlib
import re
import time
from dataclasses import replace

from aether import quota
from aether.agents.catalog import AGENTS
from aether.agents.router import Conversation, Route, route
from aether.cache import get_cache
from aether.core import Invocation, Principal
from aether.errors import UpstreamError, UpstreamTimeout
from aether.llm.catalog import MODELS, TIERS, baseline_cost_usd
from aether.llm.client import Completion, complete
from aether.settings import get_settings
from aether.store import usage

__all__ = ["ESCALATION_PROMPT", "decide"]

ESCALATION_TOKENS = 4
ESCALATION_PROMPT = (
    "Which specialist should answer the user's message? Answer with exactly one word: "
    + ", ".join(f"{name} ({agent.role})" for name, agent in AGENTS.items())
    + "."
)
_NAME = re.compile(r"\b(" + "|".join(AGENTS) + r")\b", re.IGNORECASE)


async def decide(
    requested: str,
    message: str,
    conversation: Conversation | None,
    principal: Principal,
    invocation: Invocation,
) -> Route:
    decision = route(message, conversation)
    if requested != "auto":
        return decision.with_agent(requested)
    if decision.reason == "low confidence" and get_settings().router_escalation_ms > 0:
        return await _escalated(decision, message, principal, invocation)
    return decision


async def _escalated(decision: Route, message: str, principal: Principal, invocation: Invocation) -> Route:
    settings = get_settings()
    cache = get_cache()
    key = hashlib.sha256(message.encode()).hexdigest()
    cached = await cache.get("router", key, ("l1", "l3"))
    if cached is not None:
        agent = cached.value.decode()
    else:
        deadline = min(invocation.deadline, time.monotonic() + settings.router_escalation_ms / 1000)
        messages = [{"role": "system", "content": ESCALATION_PROMPT}, {"role": "user", "content": message}]
        chain = TIERS["small"][:1]
        reservation = await quota.reserve(principal, quota.worst_case_usd(chain, messages, ESCALATION_TOKENS))
        try:
            completion = await complete(
                chain,
                messages,
                temperature=0.0,
                max_tokens=ESCALATION_TOKENS,
                invocation=replace(invocation, deadline=deadline),
            )
        except (UpstreamError, UpstreamTimeout) as exc:
            if exc.model is None:  # it reached no model
                await quota.release(reservation)
            else:  # the model may have produced its ESCALATION_TOKENS: charged
                cut = Completion.cut(exc.model, messages, None, ESCALATION_TOKENS)
                record = replace(_record(principal, invocation, cut, decision.agent), partial=True)
                await quota.charge(reservation, [record])
            return decision
        named = _NAME.search(completion.content)
        agent = named.group(1).lower() if named else ""
        record = _record(principal, invocation, completion, agent or decision.agent)
        writes = [quota.charge(reservation, [record])]
        if agent:
            writes.append(
                cache.put("router", key, agent.encode(), settings.response_cache_ttl_s, ("l1", "l3"))
            )
        await asyncio.gather(*writes)
    if agent not in AGENTS:
        return decision
    return replace(decision, agent=agent, agent_confidence=decision.agents[agent], reason="escalated")


def _record(
    principal: Principal, invocation: Invocation, completion: Completion, agent: str
) -> usage.UsageRecord:
    return usage.UsageRecord(
        user_id=principal.user_id,
        endpoint="router",
        agent=agent,
        model=completion.model,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=completion.cost_usd,
        latency_ms=completion.latency_ms,
        request_id=invocation.request_id,
        tier=MODELS[completion.model].tier,
        baseline_cost_usd=baseline_cost_usd(completion.prompt_tokens, completion.completion_tokens),
    )
