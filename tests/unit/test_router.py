"""Intent routing: behaviour on kinds of prompts, not on the evaluation set (see bench/)."""

import pytest

from aether.agents.catalog import DEFAULT_AGENT
from aether.agents.router import AMBIGUOUS, route, stem


@pytest.mark.parametrize(
    ("prompt", "agent"),
    [
        ("Fix this: TypeError: 'NoneType' object is not subscriptable in my Flask view", "dev"),
        ("```python\ndef add(a, b):\n    return a - b\n```\nwhy is this wrong?", "dev"),
        ("Which font pairs well with Inter for headings, and how much line spacing?", "luna"),
        ("Our onboarding feels cluttered and users get lost after signup", "luna"),
        ("Should we split the monolith into microservices to scale to 10M users?", "atlas"),
        ("How do we design for high availability across two regions with failover?", "atlas"),
        ("Write test cases for the password reset flow, including edge cases", "quinn"),
        ("Our Cypress suite is flaky on CI, how do we stabilise it?", "quinn"),
        ("We are two sprints behind; how do I tell stakeholders and re-plan the roadmap?", "sage"),
        ("Draft a status report for leadership on the Q3 milestones", "sage"),
    ],
)
def test_clear_prompts_go_to_their_specialist_with_confidence(prompt, agent):
    decision = route(prompt)
    assert decision.agent == agent
    assert decision.confidence >= AMBIGUOUS and not decision.ambiguous
    assert decision.runner_up != agent


def test_no_domain_signal_goes_to_the_default_agent_flagged_ambiguous():
    decision = route("hello there")
    assert (decision.agent, decision.confidence, decision.ambiguous) == (DEFAULT_AGENT, 0.0, True)


def test_a_close_call_is_reported_as_ambiguous_with_the_runner_up():
    decision = route("the deadline for the wireframes")  # project management and design in equal measure
    assert decision.ambiguous and decision.confidence == 0.5
    assert {decision.agent, decision.runner_up} == {"sage", "luna"}


def test_ranked_lists_every_agent_best_first():
    decision = route("Design a scalable event-driven architecture with Kafka")
    assert decision.ranked[0] == "atlas" and len(decision.ranked) == 5


def test_stemming_folds_inflections_together():
    assert stem("tests") == stem("testing") == stem("tested") == stem("tester") == stem("test")
    assert stem("estimates") == stem("estimate") == stem("estimating")
    assert stem("class") == stem("classes")
