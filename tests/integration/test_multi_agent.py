"""POST /chat/multi-agent through the real handler, with per-agent scripted model behaviour."""

from collections.abc import Callable
from typing import Any

import pytest

from aether.agents.catalog import AGENTS
from aether.services.multi_agent import SYNTHESIS_PROMPT
from aether_local.model_server import Reply
from tests.helpers import event, invoke, reset_process

QUESTION = "Plan a small SaaS launch: architecture, UI and tests"


def by_agent(replies: dict[str, Reply]) -> Callable[[dict[str, Any]], Reply | None]:
    """A responder that answers each agent's requests (and the synthesis) as given."""

    def respond(body: dict[str, Any]) -> Reply | None:
        system = body["messages"][0]["content"]
        if system == SYNTHESIS_PROMPT:
            return replies.get("synthesis", Reply(content="merged answer"))
        for name, agent in AGENTS.items():
            if system == agent.system_prompt:
                return replies.get(
                    name, Reply(content=f"{name} says hi", prompt_tokens=10, completion_tokens=5)
                )
        return None

    return respond


def ask(user: str, **body: Any) -> tuple[int, Any]:
    return invoke("multi_agent", event("POST", "/chat/multi-agent", {"message": QUESTION, **body}, sub=user))


@pytest.fixture
def fast(settings_env):
    settings_env.setenv("LLM_BACKOFF_BASE_MS", "1")
    settings_env.setenv("MULTI_AGENT_TIMEOUT_MS", "400")
    reset_process()


def test_given_agents_answer_in_parallel_then_one_synthesis_with_totals(model, db, user):
    model.responder = by_agent({})
    status, body = ask(user, agents=["atlas", "luna", "quinn"])
    assert status == 200, body
    assert [a["agent"] for a in body["agents"]] == ["atlas", "luna", "quinn"]
    assert all(a["status"] == "ok" and a["content"] == f"{a['agent']} says hi" for a in body["agents"])
    assert body["synthesis"]["status"] == "ok" and body["synthesis"]["content"] == "merged answer"
    parts = [*body["agents"], body["synthesis"]]
    assert body["totals"]["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in parts))
    assert body["totals"]["prompt_tokens"] == sum(p["prompt_tokens"] for p in parts)
    assert body["chosen_by"] == "request" and body["cached"] is False
    records = list(db.usage.find({"user_id": user}))
    assert sorted(r["agent"] for r in records) == ["atlas", "luna", "quinn", "synthesis"]
    assert len(model.requests) == 4


def test_the_router_picks_three_agents_when_none_are_given(model, user):
    model.responder = by_agent({})
    status, body = ask(user)
    assert status == 200, body
    assert body["chosen_by"] == "router" and len(body["agents"]) == 3


def test_partial_failure_is_reported_and_the_synthesis_uses_only_what_succeeded(model, user, fast):
    model.responder = by_agent({"luna": Reply(status=500)})
    status, body = ask(user, agents=["atlas", "luna"])
    assert status == 200, body
    statuses = {a["agent"]: a["status"] for a in body["agents"]}
    assert statuses == {"atlas": "ok", "luna": "failed"}
    assert body["agents"][1]["error"] and body["agents"][1]["content"] is None
    synthesis_request = next(r for r in model.requests if r["messages"][0]["content"] == SYNTHESIS_PROMPT)
    assert "## atlas" in synthesis_request["messages"][1]["content"]
    assert "## luna" not in synthesis_request["messages"][1]["content"]
    calls = len(model.requests)
    ask(user, agents=["atlas", "luna"])  # a partial answer is never cached
    assert len(model.requests) > calls


def test_an_agent_that_hangs_times_out_within_its_own_deadline_and_is_charged_its_worst_case(
    model, db, user, fast
):
    model.responder = by_agent({"quinn": Reply(hang=True)})
    status, body = ask(user, agents=["quinn", "sage"], max_tokens=200)
    assert status == 200, body
    assert {a["agent"]: a["status"] for a in body["agents"]} == {"quinn": "timeout", "sage": "ok"}
    assert body["synthesis"]["status"] == "ok"
    # the hung call reached the provider, which may have produced up to max_tokens: that is charged
    quinn = body["agents"][0]
    assert quinn["completion_tokens"] == 200 and quinn["cost_usd"] > 0 and quinn["content"] is None
    records = {r["agent"]: r for r in db.usage.find({"user_id": user})}
    assert set(records) == {"quinn", "sage", "synthesis"}
    assert records["quinn"]["partial"] is True and records["quinn"]["completion_tokens"] == 200
    assert body["totals"]["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in records.values()))


def test_every_agent_timing_out_is_a_502_and_each_call_is_still_charged(model, db, user, fast):
    model.responder = by_agent({"dev": Reply(hang=True), "sage": Reply(hang=True)})
    status, body = ask(user, agents=["dev", "sage"], max_tokens=100)
    assert status == 502 and "dev: timeout" in body["error"]["message"]
    records = list(db.usage.find({"user_id": user}))
    assert sorted(r["agent"] for r in records) == ["dev", "sage"]
    assert all(r["partial"] and r["completion_tokens"] == 100 for r in records)


def test_every_agent_failing_is_a_502_naming_each(model, user, fast):
    model.responder = by_agent({"dev": Reply(status=500), "sage": Reply(status=500)})
    status, body = ask(user, agents=["dev", "sage"])
    assert status == 502
    assert "dev: failed" in body["error"]["message"] and "sage: failed" in body["error"]["message"]


def test_a_repeated_question_is_answered_from_the_cache(model, db, user):
    model.responder = by_agent({})
    _, first = ask(user, agents=["atlas", "dev"])
    calls = len(model.requests)
    status, second = ask(user, agents=["atlas", "dev"])
    assert status == 200
    assert len(model.requests) == calls
    assert second["cached"] is True and second["totals"]["cost_usd"] == 0
    assert second["saved_cost_usd"] == pytest.approx(first["totals"]["cost_usd"])
    hit = db.usage.find_one({"user_id": user, "cache_tier": {"$ne": None}})
    assert hit["agent"] == "atlas+dev" and hit["cost_usd"] == 0


@pytest.mark.parametrize(
    ("agents", "fragment"),
    [
        (["atlas", "bob"], "unknown agent(s) bob"),
        (["dev", "dev"], "each agent may be named once"),
        ([], "between 1 and 5"),
        (["dev", "luna", "atlas", "quinn", "sage", "dev"], "between 1 and 5"),
    ],
)
def test_invalid_agent_lists_are_422(model, user, agents, fragment):
    status, body = ask(user, agents=agents)
    assert status == 422
    assert fragment in body["error"]["message"]
    assert model.requests == []


def test_each_agent_reports_its_model_tokens_cost_latency_and_status(model, user):
    model.responder = by_agent({})
    _, body = ask(user, agents=["sage"])
    assert set(body["agents"][0]) >= {
        "agent",
        "status",
        "content",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_ms",
    }
