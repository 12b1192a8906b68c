"""The OpenAI-compatible API through `aether-local serve`, with the official openai SDK as client."""

import openai
import pytest


@pytest.fixture
def client(local_api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{local_api['url']}/v1", api_key=local_api["user"], max_retries=0)


def test_a_plain_completion(client):
    completion = client.chat.completions.create(
        model="aether-auto", messages=[{"role": "user", "content": "How do I paginate a FastAPI endpoint?"}]
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content.startswith("[offline model")
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
        > 0
    )
    assert completion.model.startswith(("llama", "openai/"))


def test_a_stream_gives_the_same_answer_in_chunks_with_usage_last(client):
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Earlier question"},
        {"role": "assistant", "content": "Earlier answer"},
        {"role": "user", "content": "Which colour palette suits a dashboard?"},
    ]
    chunks = list(
        client.chat.completions.create(
            model="aether-luna", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[offline model") and "Which colour palette" in text
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_errors_have_openai_shapes(client, local_api):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert "the model 'gpt-9' does not exist" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as last_not_user:
        client.chat.completions.create(model="aether-dev", messages=[{"role": "assistant", "content": "hi"}])
    assert "the messages need a user message" in last_not_user.value.message
    anonymous = openai.OpenAI(base_url=f"{local_api['url']}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()


def test_models_lists_agent_aliases_and_catalog_models(client):
    ids = [model.id for model in client.models.list()]
    assert "aether-auto" in ids and "aether-quinn" in ids and "llama-3.1-8b-instant" in ids
