"""Clients are created once per execution environment and reused by warm invocations."""

import asyncio

import psutil
from pymongo import monitoring
from redis import Redis

from aether import clients
from tests.helpers import event, function, invoke


class ConnectionCounter(monitoring.ConnectionPoolListener):
    """Counts new Mongo connections; ignores every other pool event."""

    def __init__(self) -> None:
        self.created = 0

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        self.created += 1

    def __getattribute__(self, name: str) -> object:
        if name.startswith(("pool_", "connection_")) and name != "connection_created":
            return lambda event: None
        return super().__getattribute__(name)


def _aether_redis_ids(redis_sync: Redis) -> set[int]:
    """Ids of this process's connections named "aether" (other processes may share the server)."""
    own = {f"{c.laddr.ip}:{c.laddr.port}" for c in psutil.Process().net_connections("tcp") if c.raddr}
    return {int(c["id"]) for c in redis_sync.client_list() if c.get("name") == "aether" and c["addr"] in own}


def test_second_warm_invocation_opens_no_new_connections(model, redis_sync, user):
    # Given a fresh execution environment (clients dropped, as after a cold start)
    function("chat")  # imported: Mangum has set up the environment's event loop
    asyncio.get_event_loop().run_until_complete(clients.close_all())
    counter = ConnectionCounter()
    monitoring.register(counter)
    # When the handler runs once
    status, first = invoke("chat", event("POST", "/chat/optimized", {"message": "first"}, sub=user))
    assert status == 200, first
    mongo_connections = counter.created
    redis_ids = _aether_redis_ids(redis_sync)
    mongo_client, redis_client = clients.mongo_client(), clients.redis()
    # And again, warm, on the same conversation (a Mongo read and writes, Redis read and write)
    follow_up = {"message": "second", "conversation_id": first["conversation_id"]}
    status, _ = invoke("chat", event("POST", "/chat/optimized", follow_up, sub=user))
    assert status == 200
    # Then the same client objects served it, with no new Mongo connection and the same Redis one
    assert mongo_connections >= 1
    assert counter.created == mongo_connections
    assert redis_ids  # one, or two when the first request ran two Redis calls at once (outbox check)
    assert _aether_redis_ids(redis_sync) == redis_ids
    assert clients.mongo_client() is mongo_client and clients.redis() is redis_client
