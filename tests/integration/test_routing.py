"""Routing through the real chat handler: the `routing` field, conversation stickiness and the
optional escalation to the small model, against the scripted model over HTTP.

The router's weights are made here (tests/unit/test_router.made_weights), so that each decision
is set on purpose; the shipped weights are exercised by the other chat tests.
"""

import pytest

import aether.agents.router
from aether.llm.catalog import TIERS
from aether.services.routing import ESCALATION_PROMPT, ESCALATION_TOKENS
from aether_local.model_server import Reply
from tests.helpers import event, invoke, made_weights, reset_process


@pytest.fixture
def weights(monkeypatch):
    """Weights under which "zyxwv" is luna's with p 0.7 (under STICKY_CONFIDENCE), and a message
    without it is nobody's (uniform: the default agent, with low confidence)."""
    made = made_weights("zyxwv", {"luna": 0.7}, {"writing": 0.9})
    monkeypatch.setattr(aether.agents.router, "weights", lambda: made)
    return made


def ask(user: str, body: dict) -> dict:
    status, answer = invoke("chat", event("POST", "/chat/optimized", body, sub=user))
    assert status == 200, answer
    return answer


def test_a_follow_up_keeps_the_conversations_agent_unless_confidently_another(model, weights, user):
    first = ask(user, {"message": "Plan our migration", "agent": "atlas"})
    assert first["routing"]["agent_reason"] == "requested"
    follow_up = ask(user, {"message": "zyxwv", "conversation_id": first["conversation_id"]})
    assert (follow_up["agent"], follow_up["routing"]["agent_reason"]) == ("atlas", "conversation")
    assert model.requests[-1]["messages"][0]["content"].startswith("You are Atlas")
    fresh = ask(user, {"message": "zyxwv"})  # the same words outside the conversation
    assert (fresh["agent"], fresh["routing"]["agent_reason"]) == ("luna", "classifier")


def test_escalation_asks_the_small_model_once_per_message_and_charges_it(
    model, weights, db, user, settings_env
):
    settings_env.setenv("ROUTER_ESCALATION_MS", "5000")
    reset_process()
    model.script(
        Reply(content="Quinn.", prompt_tokens=40, completion_tokens=2), Reply(content="Test the edges.")
    )
    answer = ask(user, {"message": "what now?"})
    assert (answer["agent"], answer["routing"]["agent_reason"]) == ("quinn", "escalated")
    asked = model.requests[0]
    assert asked["model"] == TIERS["small"][0] and asked["messages"][0]["content"] == ESCALATION_PROMPT
    assert (asked["max_tokens"], asked["temperature"]) == (ESCALATION_TOKENS, 0.0)
    assert model.requests[1]["messages"][0]["content"].startswith("You are Quinn")
    router = db.usage.find_one({"user_id": user, "endpoint": "router"})
    assert (router["prompt_tokens"], router["completion_tokens"]) == (40, 2) and router["cost_usd"] > 0
    # The same message again, in a new conversation: the answer is the cached opinion, no model call
    model.script(Reply(content="Again."))
    again = ask(user, {"message": "what now?", "temperature": 0.2})
    assert again["routing"]["agent_reason"] == "escalated" and len(model.requests) == 3
    assert db.usage.count_documents({"user_id": user, "endpoint": "router"}) == 1


def test_an_escalation_that_fails_leaves_the_default_agent(model, weights, db, user, settings_env):
    settings_env.setenv("ROUTER_ESCALATION_MS", "5000")
    reset_process()
    model.script(Reply(content="no idea, sorry"), Reply(content="Answer."))  # no agent's name
    answer = ask(user, {"message": "hmm?"})
    assert answer["routing"]["agent_reason"] == "low confidence"
    model.script(Reply(status=400), Reply(content="Answer."))  # refused by the provider
    answer = ask(user, {"message": "hmm, again?"})
    assert answer["routing"]["agent_reason"] == "low confidence" and answer["content"] == "Answer."
    assert db.usage.count_documents({"user_id": user, "endpoint": "router", "partial": True}) == 0


def test_an_escalation_cut_by_its_deadline_is_charged_its_tokens(model, weights, db, user, settings_env):
    settings_env.setenv("ROUTER_ESCALATION_MS", "200")
    reset_process()
    model.script(Reply(hang=True), Reply(content="Answer."))
    answer = ask(user, {"message": "hmm, late?"})
    assert answer["routing"]["agent_reason"] == "low confidence" and answer["content"] == "Answer."
    router = db.usage.find_one({"user_id": user, "endpoint": "router"})
    assert router["partial"] is True and router["completion_tokens"] == ESCALATION_TOKENS


def test_without_the_setting_there_is_no_escalation(model, weights, user):
    answer = ask(user, {"message": "what then?"})
    assert answer["routing"]["agent_reason"] == "low confidence" and len(model.requests) == 1
