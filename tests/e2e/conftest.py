"""Fixtures of the end-to-end tests."""

from collections.abc import Iterator

import pytest

from tests.helpers import local_env, running_local_api

# Every runner signs the same dev identities, whose requests share one per-minute count in Redis
# across these modules: more than the free plan's 30 a minute in all. Rates and budgets are the
# integration tests' (test_quota, test_budget_faults); here the dev users have no limit.
UNLIMITED = {"DEFAULT_PLAN": "unlimited"}


@pytest.fixture(scope="module")
def local_api(environment: dict[str, str]) -> Iterator[dict[str, str]]:
    """`aether-local serve` with no Groq key: the offline model answers."""
    env = local_env(environment, GROQ_API_KEY=None, GROQ_BASE_URL=None, **UNLIMITED)
    with running_local_api(env) as info:
        yield info


@pytest.fixture(scope="module")
def scripted_api(environment: dict[str, str]) -> Iterator[dict[str, str]]:
    """`aether-local serve` whose model is the tests' scripted model server."""
    with running_local_api(local_env(environment, **UNLIMITED)) as info:
        yield info
