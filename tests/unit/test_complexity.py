from aether.agents.complexity import choose_model
from aether.llm.catalog import MODELS, TIERS


def test_a_short_plain_question_goes_to_the_small_tier():
    choice = choose_model("What is a list comprehension?", "luna")
    assert (choice.tier, choice.model, choice.chain) == ("small", TIERS["small"][0], TIERS["small"])
    assert choice.reason.startswith("small tier")


def test_code_and_multi_step_reasoning_go_to_the_large_tier_and_say_why():
    prompt = "Refactor this and explain the trade-offs step by step:\n```python\ndef f(x): return x*2\n```"
    choice = choose_model(prompt, "quinn")
    assert choice.tier == "large" and choice.chain == TIERS["large"]
    assert "code" in choice.reason and "multi-step reasoning" in choice.reason


def test_agent_preference_and_long_history_tip_a_borderline_prompt():
    prompt = "Compare two options for this"
    assert choose_model(prompt, "luna").tier == "small"
    assert choose_model(prompt, "atlas", history_messages=10).tier == "large"


def test_a_pinned_model_is_used_alone():
    pinned = next(iter(MODELS))
    choice = choose_model("anything", "dev", pinned=pinned)
    assert (choice.model, choice.chain) == (pinned, (pinned,))
    assert choice.reason == "model pinned by the request"


def test_weighing_options_counts_as_a_signal():
    assert "weighing options" in choose_model("Postgres or DynamoDB for this?", "atlas").reason
    assert choose_model("Postgres or DynamoDB for this?", "atlas").tier == "large"
    assert choose_model("Spinner or skeleton screen?", "luna").tier == "small"
