"""The worker's delivery transport: keep-alive connections are reused, stale ones replaced."""

from __future__ import annotations

import asyncio

from omnigift.events.transport import delivery_client


async def test_connections_are_reused_and_a_closed_one_is_replaced():
    connections: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    try:
        async with delivery_client(max_idle=4) as client:
            for _ in range(3):
                assert (await client.post(url, content=b"{}")).status_code == 204
            assert len(connections) == 1  # kept alive
            answers = await asyncio.gather(*(client.post(url, content=b"{}") for _ in range(3)))
            assert [a.status_code for a in answers] == [204] * 3
            assert len(connections) == 3  # one per request in flight, two of them new
            for writer in connections:
                writer.close()  # the receiver drops its idle connections
            await asyncio.sleep(0.05)
            assert (await client.post(url, content=b"{}")).status_code == 204
            assert len(connections) == 4  # a fresh connection, not an error
    finally:
        server.close()
