"""Processes the tests and benchmarks start on this machine: a free port, a redis-server of their
own (which they can pause, restart empty or run out of connections without touching the
machine's Redis)."""

import os
import shutil
import signal
import socket
import subprocess
import time

__all__ = ["RedisServer", "free_port", "start_redis_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis_server(port: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """A throwaway redis-server (on a free port by default), without persistence; returns once it
    accepts connections."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            return process, f"redis://127.0.0.1:{port}/0"
    raise RuntimeError(f"redis-server did not start on port {port}")


class RedisServer:
    """A redis-server of the caller's own with the faults production meets: paused (every command
    times out), restarted empty on the same port (a failover), stopped."""

    def __init__(self) -> None:
        self.process, self.url = start_redis_server()
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def restart_empty(self, down_s: float = 0.0) -> None:
        """Killed, `down_s` with connections refused, then started empty on the same port."""
        self.process.kill()
        self.process.wait(10)
        time.sleep(down_s)
        self.process, _ = start_redis_server(self.port)

    def stop(self) -> None:
        self.resume()
        self.process.kill()
        self.process.wait(10)
