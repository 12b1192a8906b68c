"""The local stream API's answers of its own, as API Gateway gives them."""

import dataclasses
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from aether_local.processes import free_port
from aether_local.stream_api import LocalStreamApi
from aether_local.template import read_stream_api
from tests.helpers import ROOT


@pytest.fixture
def gateway_to_a_gone_app() -> Iterator[str]:
    """The stream API in front of an app that no longer listens (its routes left unauthorized, so
    no authorizer runs)."""
    spec = read_stream_api(ROOT / "template.yaml")
    assert spec is not None
    spec = dataclasses.replace(spec, routes=[dataclasses.replace(r, authorized=False) for r in spec.routes])
    gone: Any = SimpleNamespace(port=free_port(), spec=SimpleNamespace(timeout_s=5), close=lambda: None)
    api = LocalStreamApi(spec, gone, {}, port=0)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    yield api.url
    api.close()


def test_an_app_that_is_gone_is_the_gateways_502_not_a_dropped_connection(gateway_to_a_gone_app):
    response = httpx.post(gateway_to_a_gone_app + "/v1/chat/completions", json={}, timeout=10)
    assert (response.status_code, response.json()) == (502, {"message": "Internal server error"})
