"""Chat use cases: one agent answering (chat/optimized, with its conversation; chat/quick, on
the small tier alone) through the answer pipeline (services/answering.py)."""

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aether.agents.catalog import AGENTS
from aether.cache import get_cache
from aether.cache.decorator import cached
from aether.core import Invocation, Principal
from aether.llm.catalog import MODELS
from aether.services.answering import Answer, Question, answer
from aether.settings import get_settings
from aether.store import conversations

__all__ = [
    "Asked",
    "ChatAnswer",
    "ChatRequest",
    "QuickRequest",
    "agents",
    "chat",
    "clear_cache",
    "conversation_question",
    "quick",
]

AGENT_CHOICES = ("auto", *AGENTS)


class Routing(BaseModel):
    """What the router decided: the agent (and how: `classifier`, `low confidence` for the default
    agent, `named` in the message, kept from the `conversation`, or `requested`), the task kind
    and the tier, each with its probability."""

    agent: str
    agent_confidence: float
    agent_reason: str
    task: str
    task_confidence: float
    tier: str
    tier_confidence: float


class Asked(BaseModel):
    """What every native chat route takes: a message and a temperature. A field a route does not
    know is refused by name (422), never ignored."""

    model_config = ConfigDict(extra="forbid")

    message: str
    temperature: float = Field(0.7, ge=0.0, le=2.0)

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        limit = get_settings().max_message_chars
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; the limit is {limit}")
        return value


class QuickRequest(Asked):
    max_tokens: int = Field(512, ge=1, le=2048)
    conversation_id: None = Field(None, description="refused: chat/quick keeps no conversation")

    @field_validator("conversation_id", mode="before")
    @classmethod
    def _no_conversation(cls, value: object) -> None:
        if value is not None:
            raise ValueError("chat/quick keeps no conversation and sends no history; use chat/optimized")
        return None


class ChatRequest(Asked):
    agent: str = "auto"
    conversation_id: str | None = None
    model: str | None = None  # pin a catalog model (no fallbacks)
    max_tokens: int = Field(1024, ge=1, le=8192)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if value is not None and value not in MODELS:
            raise ValueError(f"unknown model '{value}'; choose one of {', '.join(MODELS)}")
        return value

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        if value not in AGENT_CHOICES:
            raise ValueError(f"unknown agent '{value}'; choose one of {', '.join(AGENT_CHOICES)}")
        return value

    @field_validator("conversation_id")
    @classmethod
    def _conversation_id(cls, value: str | None) -> str | None:
        if value is not None and not ObjectId.is_valid(value):
            raise ValueError("is not a conversation id (24 hexadecimal characters)")
        return value


class ChatAnswer(BaseModel):
    content: str
    agent: str
    routing: Routing
    model: str
    tier: str
    model_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    conversation_id: str | None
    request_id: str
    cached: bool = False
    cache_tier: str | None = None
    saved_cost_usd: float = 0.0
    finish_reason: str = "stop"  # the model's: stop, or length when max_tokens cut the answer
    # true: the turn is saved in conversation_id; false: it could not be saved (a write failed
    # twice), and conversation_id is null if the conversation was new; null: a route that keeps
    # no conversation
    stored: bool | None = None


async def conversation_question(
    request: ChatRequest, principal: Principal, invocation: Invocation, endpoint: str
) -> Question:
    """The request as a Question, in its conversation (a new one, or a follow-up with its history:
    404 if it is not the caller's, 503 while it cannot be read)."""
    is_new = request.conversation_id is None
    conversation_id = ObjectId() if is_new else ObjectId(request.conversation_id)
    history = (
        conversations.History([], None)
        if is_new
        else await conversations.load_history(
            principal.user_id, conversation_id, get_settings().history_limit
        )
    )
    return Question(
        principal,
        invocation,
        endpoint,
        request.message,
        request.temperature,
        request.max_tokens,
        agent=request.agent,
        model=request.model,
        history=history.messages,
        previous_agent=history.agent,
        conversation_id=conversation_id,
        is_new=is_new,
    )


async def chat(request: ChatRequest, principal: Principal, invocation: Invocation) -> ChatAnswer:
    """One agent's answer in a conversation, from the cache when it can (before any routing)."""
    q = await conversation_question(request, principal, invocation, "chat/optimized")
    result = await answer(q)
    kept = result.stored or not q.is_new  # a new conversation whose turn failed does not exist
    return _shaped(result, invocation, str(q.conversation_id) if kept else None)


async def quick(request: QuickRequest, principal: Principal, invocation: Invocation) -> ChatAnswer:
    """Small model, no history, no conversation, no cache: one model call and one usage record."""
    q = Question(
        principal,
        invocation,
        "chat/quick",
        request.message,
        request.temperature,
        request.max_tokens,
        small_tier=True,
        cached=False,
    )
    return _shaped(await answer(q), invocation, None)


def _shaped(result: Answer, invocation: Invocation, conversation_id: str | None) -> ChatAnswer:
    completion = result.completion
    return ChatAnswer(
        content=completion.content,
        agent=result.head.agent,
        routing=Routing(**result.head.routing),
        model=completion.model,
        tier=MODELS[completion.model].tier,
        model_reason=result.head.model_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
        conversation_id=conversation_id,
        request_id=invocation.request_id,
        cached=result.cache_tier is not None,
        cache_tier=result.cache_tier,
        saved_cost_usd=result.saved_cost_usd,
        finish_reason=completion.finish_reason,
        stored=result.stored,
    )


@cached(ttl=300, tiers=("l1",))
async def agents() -> dict[str, list[dict[str, str]]]:
    """The agent catalog as the API shows it (memoised in L1: it only changes with a deploy)."""
    return {"agents": [{"name": a.name, "role": a.role} for a in AGENTS.values()]}


async def clear_cache(principal: Principal) -> dict[str, str]:
    """Make the caller's cached answers unreachable in every execution environment."""
    await get_cache().clear(principal.user_id)
    return {"cleared": "user", "user_id": principal.user_id}
