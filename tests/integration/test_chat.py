"""The chat function through its real Lambda handler, with real Mongo, Redis and the groq SDK."""

from bson import ObjectId

from aether.agents.router import route
from aether.llm.catalog import TIERS, cost_usd
from aether_local.model_server import Reply
from tests.helpers import event, invoke, reset_process


def test_new_conversation_answers_and_stores_conversation_messages_and_usage(model, db, user):
    # Given a model that answers with known usage
    model.script(Reply(content="Use limit and offset.", prompt_tokens=120, completion_tokens=30))
    # When the user asks without a conversation id
    evt = event("POST", "/chat/optimized", {"message": "How do I paginate in FastAPI?"}, sub=user)
    status, body = invoke("chat", evt)
    # Then the answer carries the model's content, tokens and the catalog price
    assert status == 200, body
    assert body["content"] == "Use limit and offset."
    routing = body["routing"]  # what the router decided, each with its probability
    assert (body["agent"], routing["agent_reason"]) == (routing["agent"], "classifier")
    assert 0 < routing["agent_confidence"] <= 1 and 0 < routing["tier_confidence"] <= 1
    tier = routing["tier"]
    assert (body["model"], body["tier"]) == (TIERS[tier][0], tier)
    assert body["model_reason"].startswith(f"{tier} tier")
    assert (body["prompt_tokens"], body["completion_tokens"]) == (120, 30)
    assert body["cost_usd"] == cost_usd(TIERS[tier][0], 120, 30)
    assert body["request_id"] == evt["requestContext"]["requestId"]
    assert body["cached"] is False
    # And the model got the agent's system prompt and the question
    sent = model.requests[-1]
    assert sent["model"] == TIERS[tier][0]
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "How do I paginate in FastAPI?"}
    # And Mongo holds the conversation, both messages and one usage record
    conversation_id = ObjectId(body["conversation_id"])
    conversation = db.conversations.find_one({"_id": conversation_id})
    assert conversation["user_id"] == user and conversation["message_count"] == 2
    messages = list(db.messages.find({"conversation_id": conversation_id}).sort("created_at", 1))
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["tokens"] == {"prompt": 120, "completion": 30}
    usage = list(db.usage.find({"user_id": user}))
    assert len(usage) == 1
    assert usage[0]["cost_usd"] == body["cost_usd"] and usage[0]["request_id"] == body["request_id"]
    assert usage[0]["endpoint"] == "chat/optimized" and usage[0]["cache_tier"] is None
    assert (usage[0]["task"], usage[0]["tier"]) == (routing["task"], tier)


def test_follow_up_sends_history_and_extends_the_conversation(model, db, user):
    model.script(Reply(content="First answer."), Reply(content="Second answer."))
    _, first = invoke("chat", event("POST", "/chat/optimized", {"message": "Question one"}, sub=user))
    follow_up = {"message": "Question two", "conversation_id": first["conversation_id"], "agent": "quinn"}
    status, second = invoke("chat", event("POST", "/chat/optimized", follow_up, sub=user))
    assert status == 200, second
    assert second["conversation_id"] == first["conversation_id"]
    assert second["agent"] == "quinn"
    roles_and_content = [(m["role"], m["content"]) for m in model.requests[-1]["messages"][1:]]
    assert roles_and_content == [
        ("user", "Question one"),
        ("assistant", "First answer."),
        ("user", "Question two"),
    ]
    assert db.conversations.find_one({"_id": ObjectId(first["conversation_id"])})["message_count"] == 4


def test_another_users_conversation_is_not_found(model, user):
    _, mine = invoke("chat", event("POST", "/chat/optimized", {"message": "private"}, sub=user))
    calls = len(model.requests)
    status, body = invoke(
        "chat",
        event(
            "POST",
            "/chat/optimized",
            {"message": "x", "conversation_id": mine["conversation_id"]},
            sub="other",
        ),
    )
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert len(model.requests) == calls


def test_repeated_question_is_answered_from_cache_and_still_recorded(model, db, user):
    model.script(Reply(content="Cached answer.", prompt_tokens=50, completion_tokens=10))
    question = {"message": "What is a Lambda layer?"}
    _, first = invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    calls = len(model.requests)
    status, second = invoke(
        "chat", event("POST", "/chat/optimized", {"message": "  What is a Lambda layer?\n"}, sub=user)
    )
    assert status == 200
    assert len(model.requests) == calls
    assert second["content"] == "Cached answer."
    assert second["cached"] is True and second["cost_usd"] == 0
    assert second["saved_cost_usd"] == first["cost_usd"] > 0
    records = list(db.usage.find({"user_id": user}).sort("ts", 1))
    assert [r["cache_tier"] for r in records] == [None, second["cache_tier"]]
    assert second["cache_tier"] in {"l2", "l3"}
    assert records[1]["cost_usd"] == 0


def test_case_and_inner_whitespace_are_part_of_the_question(model, user):
    # ls -l lists in long format, ls -L follows symbolic links: the same words but for case
    asked = ["In bash, what does ls -l do?", "In bash, what does ls -L do?", "print( 'a' )", "print('a')"]
    answers = [invoke("chat", event("POST", "/chat/optimized", {"message": m}, sub=user))[1] for m in asked]
    assert [a["cached"] for a in answers] == [False] * 4 and len(model.requests) == 4


def test_cache_is_per_user(model, user):
    question = {"message": "same words from two users"}
    invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    calls = len(model.requests)
    _, other = invoke("chat", event("POST", "/chat/optimized", question, sub=user + "-other"))
    assert other["cached"] is False
    assert len(model.requests) == calls + 1


def test_quick_uses_the_small_model_without_history_or_conversation(model, db, user):
    status, body = invoke(
        "chat", event("POST", "/chat/quick", {"message": "What is a list comprehension?"}, sub=user)
    )
    assert status == 200, body
    assert body["model"] == TIERS["small"][0]
    assert body["conversation_id"] is None
    assert len(model.requests[-1]["messages"]) == 2
    assert db.conversations.count_documents({"user_id": user}) == 0
    assert [r["endpoint"] for r in db.usage.find({"user_id": user})] == ["chat/quick"]


def test_model_failure_is_a_502_without_internal_details(model, db, user, settings_env):
    settings_env.setenv("LLM_BACKOFF_BASE_MS", "1")
    reset_process()
    model.script(*[Reply(status=500)] * 4)  # two attempts on each model of the routed tier's chain
    status, body = invoke("chat", event("POST", "/chat/optimized", {"message": "will fail"}, sub=user))
    assert status == 502
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert "scripted" not in body["error"]["message"] and "Traceback" not in body["error"]["message"]
    chain = TIERS[route("will fail").tier]
    assert [r["model"] for r in model.requests] == [m for m in chain for _ in range(2)]
    assert db.usage.count_documents({"user_id": user}) == 0
    assert db.conversations.count_documents({"user_id": user}) == 0


def test_model_that_hangs_meets_the_deadline_with_a_504_and_is_charged_its_worst_case(model, db, user):
    model.script(Reply(hang=True))
    # A Lambda with 1 s left and the 0.5 s margin leaves the model 0.5 s.
    question = {"message": "hang", "max_tokens": 300}
    status, body = invoke("chat", event("POST", "/chat/quick", question, sub=user), timeout_s=1)
    assert status == 504
    assert body["error"]["code"] == "deadline_exceeded"
    # the call reached the provider, which may have produced up to max_tokens: that much is charged
    (record,) = db.usage.find({"user_id": user})
    assert record["partial"] is True and record["completion_tokens"] == 300


def test_cache_clear_makes_the_callers_answers_miss_and_leaves_others(model, user):
    question = {"message": "clear me"}
    invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    invoke("chat", event("POST", "/chat/optimized", question, sub=user + "-b"))
    status, body = invoke("chat", event("POST", "/cache/clear", {}, sub=user))
    assert status == 200 and body["cleared"] == "user"
    calls = len(model.requests)
    _, mine = invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    _, theirs = invoke("chat", event("POST", "/chat/optimized", question, sub=user + "-b"))
    assert mine["cached"] is False and theirs["cached"] is True
    assert len(model.requests) == calls + 1


def test_shared_scope_serves_other_users_only_for_prompts_without_history(model, user, settings_env):
    settings_env.setenv("CACHE_SHARED_SCOPE", "true")

    reset_process()
    question = {"message": "a question anyone could ask"}
    _, first = invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    _, other = invoke("chat", event("POST", "/chat/optimized", question, sub=user + "-x"))
    assert (first["cached"], other["cached"], other["cache_tier"]) == (False, True, "l1")
    follow_up = {**question, "conversation_id": first["conversation_id"]}
    calls = len(model.requests)
    _, with_history = invoke("chat", event("POST", "/chat/optimized", follow_up, sub=user))
    assert with_history["cached"] is False and len(model.requests) == calls + 1


def test_a_prompt_no_context_window_holds_is_a_400_and_never_reaches_the_model(model, user, settings_env):
    settings_env.setenv("MAX_MESSAGE_CHARS", "400000")
    settings_env.setenv("MAX_BODY_BYTES", "500000")
    reset_process()
    status, body = invoke("chat", event("POST", "/chat/optimized", {"message": "word " * 60_000}, sub=user))
    assert status == 400 and "context window" in body["error"]["message"]
    assert model.requests == []


def test_native_routes_refuse_fields_they_do_not_take_by_name(model, user):
    quick = {"message": "continue where we left off", "conversation_id": "6561f0a0a0a0a0a0a0a0a0a0"}
    status, body = invoke("chat", event("POST", "/chat/quick", quick, sub=user))
    assert status == 422 and "conversation_id" in body["error"]["message"]
    assert "chat/optimized" in body["error"]["message"]
    for path in ("/chat/optimized", "/chat/stream", "/chat/quick"):
        given = {"message": "hi", "history": ["earlier"]}
        status, body = invoke("chat", event("POST", path, given, sub=user))
        assert status == 422 and body["error"]["message"].startswith("history: unrecognized argument"), path
    assert model.requests == []


def test_a_native_answer_says_when_max_tokens_cut_it(model, user):
    model.script(Reply(content="The first three", completion_tokens=3, finish_reason="length"))
    ask = {"message": "Explain event sourcing", "max_tokens": 3}
    status, body = invoke("chat", event("POST", "/chat/optimized", ask, sub=user))
    assert status == 200 and body["finish_reason"] == "length"
