"""The router's behaviour: loading, probabilities, fallbacks, stickiness, overrides, tiers.

Accuracy is not asserted here: it is measured on held-out real prompts by
`aether-local router evaluate` (BENCHMARKS.md). Most tests use weights made in the test, with one
known feature, so that each probability is set on purpose.
"""

import json
import math
from dataclasses import replace

import pytest

from aether.agents.catalog import AGENTS, DEFAULT_AGENT
from aether.agents.choice import choose_model
from aether.agents.features import FEATURES_VERSION, features
from aether.agents.router import (
    MAGIC,
    STICKY_CONFIDENCE,
    TASKS,
    WEIGHTS,
    Conversation,
    Weights,
    route,
    weights,
)
from aether.errors import BadRequest
from aether.llm.catalog import MODELS, TIERS
from tests.helpers import AGENT_NAMES, made_weights


def test_the_shipped_weights_load_and_give_probabilities_for_every_agent_and_task():
    # Given the weights file in the layer
    shipped = weights()
    header = json.loads(WEIGHTS.read_bytes()[len(MAGIC) :].split(b"\n", 1)[0])
    # Then it is small, made for these features, and names every agent and task kind
    assert WEIGHTS.stat().st_size <= 5_000_000
    assert header["features_version"] == FEATURES_VERSION and header["features"] == len(shipped.rows)
    assert (list(shipped.agents), list(shipped.tasks)) == (AGENT_NAMES, list(TASKS))
    # And any message gets two probability distributions
    agents, tasks = shipped.probabilities("How do I reverse a list in Python?")
    assert math.isclose(sum(agents.values()), 1) and math.isclose(sum(tasks.values()), 1)
    decision = route("How do I reverse a list in Python?")
    assert decision.agent in AGENTS and decision.task in TASKS and decision.tier in TIERS
    assert decision.agent_confidence == decision.agents[decision.agent]
    assert decision.ranked[0] == max(decision.agents, key=decision.agents.__getitem__)


def test_a_message_with_no_known_feature_gets_uniform_probabilities_and_the_default_agent():
    made = made_weights("zyxwv", {"luna": 0.9}, {"writing": 0.9})
    decision = made.route("qqqq")
    assert all(math.isclose(p, 1 / len(AGENTS)) for p in decision.agents.values())
    assert (decision.agent, decision.reason) == (DEFAULT_AGENT, "low confidence")


def test_a_confident_decision_is_the_classifiers():
    made = made_weights("zyxwv", {"luna": 0.9}, {"writing": 0.9})
    decision = made.route("zyxwv")
    assert (decision.agent, decision.reason, decision.task, decision.tier) == (
        "luna",
        "classifier",
        "writing",
        "small",
    )
    assert decision.agent_confidence == pytest.approx(0.9, abs=0.01)


def test_below_the_confidence_threshold_the_default_agent_answers():
    made = made_weights("zyxwv", {"luna": 0.35}, {"writing": 0.9})
    decision = made.route("zyxwv")
    assert (decision.agent, decision.reason) == (DEFAULT_AGENT, "low confidence")
    assert decision.ranked[0] == "luna"  # the probabilities stay the classifier's


def test_a_message_naming_an_agent_goes_to_it():
    made = made_weights("zyxwv", {"luna": 0.95}, {"writing": 0.9})
    decision = made.route("@Quinn zyxwv")
    assert (decision.agent, decision.agent_confidence, decision.reason) == ("quinn", 1.0, "named")
    assert made.route("mail me at me@quinn.example zyxwv").agent == "luna"  # an address is no mention


@pytest.mark.parametrize(
    ("luna", "expected", "reason"),
    [(STICKY_CONFIDENCE - 0.05, "atlas", "conversation"), (STICKY_CONFIDENCE + 0.05, "luna", "classifier")],
)
def test_a_follow_up_keeps_the_conversations_agent_unless_confidently_another(luna, expected, reason):
    made = made_weights("zyxwv", {"luna": luna}, {"writing": 0.9})
    decision = made.route("zyxwv", Conversation(agent="atlas"))
    assert (decision.agent, decision.reason) == (expected, reason)


def test_a_follow_up_with_only_earlier_messages_keeps_the_agent_they_route_to():
    made = made_weights("zyxwv", {"sage": 0.9}, {"writing": 0.9})
    unsure = made.route("and then?", Conversation(earlier="zyxwv"))
    assert (unsure.agent, unsure.reason) == ("sage", "conversation")


def test_a_sure_task_kind_sets_the_tier():
    assert made_weights("zyxwv", {"dev": 0.9}, {"code": 0.8}).route("zyxwv").tier == "large"
    assert made_weights("zyxwv", {"dev": 0.9}, {"summarisation": 0.8}).route("zyxwv").tier == "small"


def test_an_unsure_task_kind_leans_to_the_large_tier_when_it_may_be_math_reasoning_or_code():
    # P(math, reasoning or code) = 0.34 >= lean_large_at 0.3, though writing is the most probable kind
    unsure = {"writing": 0.4, "math": 0.15, "code": 0.15, "reasoning": 0.04}
    leaning = made_weights("zyxwv", {"dev": 0.9}, unsure).route("zyxwv")
    assert (leaning.task, leaning.tier) == ("writing", "large")
    assert leaning.tier_confidence == pytest.approx(0.34, abs=0.01)
    assert choose_model(leaning, 100).reason.startswith("large tier: may be math, reasoning or code")
    # Under the lean threshold, the small tier
    unsure = {"writing": 0.45, "math": 0.1, "code": 0.1, "reasoning": 0.05}
    small = made_weights("zyxwv", {"dev": 0.9}, unsure).route("zyxwv")
    assert small.tier == "small"


def test_a_requested_agent_keeps_the_routed_task_and_tier():
    made = made_weights("zyxwv", {"luna": 0.9}, {"code": 0.9})
    decision = made.route("zyxwv").with_agent("sage")
    assert (decision.agent, decision.agent_confidence, decision.reason) == ("sage", 1.0, "requested")
    assert (decision.task, decision.tier) == ("code", "large")
    assert set(decision.summary()) == {
        "agent",
        "agent_confidence",
        "agent_reason",
        "task",
        "task_confidence",
        "tier",
        "tier_confidence",
    }


def test_a_pinned_model_wins_over_the_routed_tier():
    decision = made_weights("zyxwv", {"luna": 0.9}, {"code": 0.9}).route("zyxwv")
    pinned = TIERS["small"][0]
    chosen = choose_model(decision, 100, pinned=pinned)
    assert (chosen.model, chosen.chain) == (pinned, (pinned,))
    assert choose_model(decision, 100).chain == TIERS["large"]


def test_only_models_whose_context_window_holds_prompt_and_answer_are_chosen(monkeypatch):
    # Given a small tier whose first model has a small context window
    decision = made_weights("zyxwv", {"luna": 0.9}, {"writing": 0.9}).route("zyxwv")
    small, large = TIERS["small"], TIERS["large"]
    monkeypatch.setitem(MODELS, small[0], replace(MODELS[small[0]], context_window=1_000))
    window = MODELS[small[1]].context_window
    # Then a prompt that needs more goes to the next model of the tier, and says why
    assert choose_model(decision, 500).chain == small
    assert choose_model(decision, 2_000).chain == small[1:]
    # And one no model of the tier holds goes to a larger window, if any, else is refused
    monkeypatch.setitem(MODELS, small[1], replace(MODELS[small[1]], context_window=1_000))
    larger = choose_model(decision, 2_000)
    assert set(larger.chain) == set(large) and larger.reason.endswith("a larger context window")
    with pytest.raises(BadRequest, match="context window"):
        choose_model(decision, 10 * window)
    # And a pinned model that cannot hold it is refused, not replaced
    with pytest.raises(BadRequest, match="1000"):
        choose_model(decision, 2_000, pinned=small[0])


def test_weights_for_other_features_are_refused():
    blob = WEIGHTS.read_bytes().replace(
        f'"features_version":{FEATURES_VERSION}'.encode(),
        f'"features_version":{FEATURES_VERSION + 1}'.encode(),
    )
    with pytest.raises(ValueError, match="features"):
        Weights(blob)
    with pytest.raises(ValueError, match="not a router weights file"):
        Weights(b"{}")


def test_features_are_words_pairs_pieces_and_shape():
    found = features("Fix `foo()` in 2024\nplease")
    assert {"fix", "foo", "(", "0", "<nl>", "fix `", "#<fi", "#fix>", "#<fix>", "please"} <= found
    assert any(f.startswith("@tokens") for f in found) and any(f.startswith("@lines") for f in found)
    assert features("A" * 10_000) == features("a" * 10_000)  # case folded, length capped
