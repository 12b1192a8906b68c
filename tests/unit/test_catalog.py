import json
from pathlib import Path

from aether.agents.catalog import AGENTS, DEFAULT_AGENT
from aether.llm.catalog import MODELS, PRICES_READ_ON, TIERS, cost_usd


def test_cost_is_input_tokens_times_input_price_plus_output_tokens_times_output_price():
    data = json.loads(Path("layers/common/aether/llm/models.json").read_text())
    prices = {m["id"]: m for m in data["models"]}
    for model_id, model in prices.items():
        expected = (1_000 * model["input_per_million"] + 500 * model["output_per_million"]) / 1_000_000
        assert abs(cost_usd(model_id, 1_000, 500) - expected) < 1e-12


def test_tiers_name_catalog_models_of_that_tier_and_prices_are_dated():
    assert set(TIERS) == {"small", "large"}
    for tier, ids in TIERS.items():
        assert ids and all(MODELS[i].tier == tier for i in ids)
    assert len(PRICES_READ_ON) == 10 and PRICES_READ_ON[4] == "-"


def test_the_five_agents_and_their_tiers():
    assert list(AGENTS) == ["dev", "luna", "atlas", "quinn", "sage"]
    assert DEFAULT_AGENT in AGENTS
    assert all(agent.system_prompt for agent in AGENTS.values())
