"""Real OpenAI clients (the openai SDK, LangChain's ChatOpenAI, LiteLLM) against `aether-local
serve`, whose model is the scripted upstream that records what reached it: tool calls and
structured output, streaming and not, on the HTTP API and on the stream API."""

import json
import os
import sys
import uuid

import openai
import pytest
from pydantic import BaseModel

from aether_local.model_server import Reply
from tests.helpers import TOOL_CALL as CALL
from tests.helpers import WEATHER_TOOL as WEATHER

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM reads its price list locally


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


@pytest.fixture(scope="module", autouse=True)
def pydantic_v1() -> None:
    """LangChain imports pydantic.v1, which the functions' app marks absent in its own process to
    spare FastAPI's probe at cold start (aether.http.app); this process is the client's."""
    if "pydantic.v1" in sys.modules and sys.modules["pydantic.v1"] is None:
        del sys.modules["pydantic.v1"]


@pytest.fixture(params=["http_api", "stream_api"])
def base_url(request: pytest.FixtureRequest, scripted_api: dict[str, str]) -> str:
    """Both ways in: the HTTP API, and the stream API (behind its token authorizer)."""
    return scripted_api["url" if request.param == "http_api" else "stream_url"] + "/v1"


@pytest.fixture
def ask() -> list[dict[str, str]]:
    """A question of this test alone (the answers of others are in the cache)."""
    return [{"role": "user", "content": f"What is the weather in Paris? ({uuid.uuid4().hex[:8]})"}]


@pytest.fixture
def client(base_url: str, scripted_api: dict[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=scripted_api["user"], max_retries=0)


def test_openai_sdk_tool_calls_whole_and_streamed(client, model, ask):
    model.script(*[Reply(tool_calls=[CALL], finish_reason="tool_calls")] * 2)
    completion = client.chat.completions.create(model="aether-auto", messages=ask, tools=[WEATHER])
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert completion._request_id  # x-request-id, as the SDK reads it
    chunks = list(
        client.chat.completions.create(model="aether-auto", messages=ask, tools=[WEATHER], stream=True)
    )
    pieces = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert "".join(p.function.arguments or "" for p in pieces) == CALL["function"]["arguments"]
    assert model.requests[-1]["tools"] == [WEATHER]


def test_openai_sdk_structured_output_finish_reason_and_usage(client, model, ask):
    model.script(
        Reply(content='{"name": "Paris", "country": "France"}'), Reply(content="cut", finish_reason="length")
    )
    parsed = client.chat.completions.parse(model="aether-auto", messages=ask, response_format=City)
    assert parsed.choices[0].message.parsed == City(name="Paris", country="France")
    assert model.requests[-1]["response_format"]["type"] == "json_schema"
    chunks = list(
        client.chat.completions.create(
            model="aether-dev",
            messages=ask,
            max_tokens=1,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_openai_sdk_errors(client, model, ask):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-9", messages=ask)
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="aether-auto", messages=ask, logprobs=True)
    assert refused.value.param == "logprobs" and refused.value.type == "invalid_request_error"
    assert client.models.retrieve("openai/gpt-oss-20b").id == "openai/gpt-oss-20b"
    assert model.requests == []


@pytest.mark.parametrize("streaming", [False, True])
def test_langchain_bind_tools(base_url, scripted_api, model, streaming, ask):
    from langchain_openai import ChatOpenAI

    model.script(Reply(tool_calls=[CALL], finish_reason="tool_calls"))
    chat = ChatOpenAI(model="aether-auto", base_url=base_url, api_key=scripted_api["user"], max_retries=0)
    bound = chat.bind_tools([WEATHER])
    if streaming:
        message = None
        for chunk in bound.stream(ask[0]["content"]):
            message = chunk if message is None else message + chunk
    else:
        message = bound.invoke(ask[0]["content"])
    assert message is not None
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_langchain_with_structured_output(base_url, scripted_api, model, method, ask):
    from langchain_openai import ChatOpenAI

    as_json = '{"name": "Paris", "country": "France"}'
    if method == "function_calling":
        call = {"id": "call_2", "type": "function", "function": {"name": "City", "arguments": as_json}}
        model.script(Reply(tool_calls=[call], finish_reason="tool_calls"))
    else:
        model.script(Reply(content=as_json))
    chat = ChatOpenAI(model="aether-auto", base_url=base_url, api_key=scripted_api["user"], max_retries=0)
    structured = chat.with_structured_output(City, method=method)
    assert structured.invoke(ask[0]["content"] + " Answer in JSON.") == City(name="Paris", country="France")
    sent = model.requests[-1]
    assert ("tools" in sent) == (method == "function_calling") and ("response_format" in sent) != (
        method == "function_calling"
    )


@pytest.mark.parametrize("streaming", [False, True])
def test_litellm_as_a_client(base_url, scripted_api, model, streaming, ask):
    import litellm

    model.script(Reply(tool_calls=[CALL], finish_reason="tool_calls"))
    given = {"api_base": base_url, "api_key": scripted_api["user"], "tools": [WEATHER], "num_retries": 0}
    response = litellm.completion(model="openai/aether-auto", messages=ask, stream=streaming, **given)
    if streaming:
        response = litellm.stream_chunk_builder(list(response), messages=ask)
    call = response.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert response.choices[0].finish_reason == "tool_calls"
