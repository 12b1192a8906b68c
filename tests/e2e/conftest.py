"""Fixtures of the end-to-end tests."""

from collections.abc import Iterator

import pytest

from tests.helpers import local_env, running_local_api


@pytest.fixture(scope="module")
def local_api(environment: dict[str, str]) -> Iterator[dict[str, str]]:
    """`aether-local serve` with no Groq key: the offline model answers."""
    with running_local_api(local_env(environment, GROQ_API_KEY=None, GROQ_BASE_URL=None)) as info:
        yield info


@pytest.fixture(scope="module")
def scripted_api(environment: dict[str, str]) -> Iterator[dict[str, str]]:
    """`aether-local serve` whose model is the tests' scripted model server."""
    with running_local_api(local_env(environment)) as info:
        yield info
