"""Several workers of `devscore serve` share the load: each listens on a socket of its own (SO_REUSEPORT),
so one client's keep-alive connections spread over them; the sockets' connections get TCP_NODELAY; a port
another server holds is refused in one line."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import free_port
from tests.test_server_lifecycle import _workers
from tiler_app.supervisor import _port_socket

DEVSCORE = str(Path(sys.executable).parent / "devscore")
#: Connections opened at once: with one shared socket the first worker awake accepts all of them;
#: spread by the kernel's hash over 2 sockets, all 16 land on one worker with probability 2^-15.
CONNECTIONS = 16


def test_connections_spread_over_the_workers(served_catalog, tmp_path):
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([DEVSCORE, "serve", "--catalog", str(served_catalog[1]), "--port", str(port),
                                 "--workers", "2"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    clients = [httpx.Client(base_url=base, timeout=30) for _ in range(CONNECTIONS)]
    try:
        for _ in range(600):
            workers = _workers(proc.pid)
            listening = [w for w in workers if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                                                   for c in w.net_connections("tcp"))]
            if len(listening) == 2:
                break
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(0.1)
        assert len(listening) == 2, (tmp_path / "serve.log").read_text()[-2000:]
        for client in clients:  # each keeps its connection open
            assert client.get("/layers").status_code == 200
        per_worker = [sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in w.net_connections("tcp"))
                      for w in listening]
        assert sum(per_worker) == CONNECTIONS and min(per_worker) > 0, per_worker

        taken = subprocess.run([DEVSCORE, "serve", "--catalog", str(served_catalog[1]), "--port", str(port)],
                               capture_output=True, text=True, timeout=120)
        assert taken.returncode != 0
        assert taken.stderr.strip().splitlines()[-1] == f"cannot listen on 127.0.0.1:{port}: Address already in use"
        assert "Traceback" not in taken.stderr
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        proc.wait(timeout=30)


def test_connections_of_a_worker_socket_have_no_nagle_delay():
    """asyncio turns TCP_NODELAY on only for sockets that name IPPROTO_TCP; without it a response waits
    for the client's delayed ACK (about 40 ms)."""
    seen: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.create_future()

        class Record(asyncio.Protocol):
            def connection_made(self, transport):
                seen.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                accepted.set_result(None)

        server = await loop.create_server(Record, sock=_port_socket("127.0.0.1", 0))
        _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        await asyncio.wait_for(accepted, 10)
        writer.close()
        server.close()

    asyncio.run(main())
    assert seen and seen[0] != 0
