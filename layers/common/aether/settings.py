"""Every environment variable Aether reads, typed, in one place."""

import os
from dataclasses import dataclass, fields
from functools import cache

__all__ = ["Settings", "get_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration; field names are the environment variable names in lower case."""

    mongo_url: str = ""
    mongo_url_secret_arn: str = ""  # ARN of a Secrets Manager secret or an SSM parameter
    mongo_db: str = "aether"
    mongo_max_pool_size: int = 5
    mongo_timeout_ms: int = 3000
    # Usage records MongoDB could not take wait in a Redis list (store/outbox.py)
    usage_outbox_check_ms: int = 5_000  # how often an environment looks at the outbox
    usage_outbox_batch: int = 100  # records a write stage drains at most

    redis_url: str = ""
    redis_timeout_ms: int = 50
    redis_connect_timeout_ms: int = 250
    redis_retry_after_s: int = 5
    redis_max_connections: int = 20  # per environment; a command waits for a free one...
    redis_pool_wait_ms: int = 100  # ...this long, then Redis counts as unavailable
    redis_health_check_s: int = 30  # a connection idle this long is pinged before use

    groq_api_key: str = ""
    groq_api_key_secret_arn: str = ""  # ARN of a Secrets Manager secret or an SSM parameter
    groq_base_url: str = ""

    # Bearer tokens checked in a function (the stream API's token authorizer, and the streamed app
    # behind it): the same issuer and audiences as the HTTP API's JWT authorizer.
    jwt_issuer: str = ""
    jwt_audience: str = ""  # comma-separated; a token's aud or client_id must be one of them
    jwt_jwks_url: str = ""  # empty: {jwt_issuer}/.well-known/jwks.json

    # Plans (aether.quota): JSON name -> {requests_per_minute, usd_per_day, usd_per_month}, added
    # to the built-in ones
    plans: str = ""
    default_plan: str = "free"  # for callers whose token names no known plan
    plan_claim: str = "custom:plan"
    idempotency_ttl_s: int = 86_400
    quota_reconcile_s: int = 300  # Redis's cache of a user's spend is read again from MongoDB this often

    admin_group: str = "aether-admins"
    admin_scope: str = "aether/admin"

    # Input limits (README, "Input limits" in docs/ARCHITECTURE.md)
    max_message_chars: int = 8000
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 32
    max_history_messages: int = 100  # client-supplied history (/v1/chat/completions)
    max_history_chars: int = 48_000
    analytics_max_days: int = 365
    history_limit: int = 20
    response_cache_ttl_s: int = 3600
    analytics_cache_ttl_s: int = 60

    cache_l1_size: int = 10_000
    cache_l1_max_mb: int = 32
    cache_l1_ttl_s: int = 300
    cache_l2_size: int = 5_000
    cache_l2_max_mb: int = 32
    cache_l2_ttl_s: int = 1_800
    cache_max_value_bytes: int = 256 * 1024
    cache_version_ttl_ms: int = 5_000
    cache_lock_ms: int = 10_000
    cache_lock_poll_ms: int = 25
    cache_shared_scope: bool = False

    llm_max_attempts: int = 2
    llm_backoff_base_ms: int = 200
    llm_backoff_max_ms: int = 2_000
    llm_max_retry_wait_ms: int = 2_000
    rate_limit_refresh_ms: int = 5_000

    # When the router is unsure of the agent, ask the small model, within this many ms (0: never;
    # services/routing.py)
    router_escalation_ms: int = 0

    multi_agent_max: int = 5
    multi_agent_default: int = 3
    multi_agent_timeout_ms: int = 15_000
    multi_agent_synthesis_reserve_ms: int = 8_000

    health_check_interval_s: int = 30  # the health route's checks run at most this often per environment

    powertools_trace_disabled: bool = True
    alert_rules: str = ""  # JSON list of alert rules; empty: the defaults (telemetry/alerts.py)

    request_timeout_ms: int = 30_000  # API Gateway's integration limit; the stream function sets its own
    deadline_margin_ms: int = 500

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(field.name.upper())
            if raw is None or raw == "":
                continue
            if field.type is bool:
                values[field.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            else:
                values[field.name] = int(raw) if field.type is int else raw
        return cls(**values)  # type: ignore[arg-type]


@cache
def get_settings() -> Settings:
    """Settings of this execution environment, read once."""
    return Settings.from_env()
