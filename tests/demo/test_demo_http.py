"""The shoppers' lean HTTP client: keep-alive, both body framings, a stale connection retried
once, and no answer turned into HttpError."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from rollout.demo._http import HttpError, HttpPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _read_request(reader: asyncio.StreamReader) -> str:
    head = await reader.readuntil(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n")[0]


def test_answers_framed_by_length_or_chunks_over_one_connection() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                line = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            if "chunked" in line:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunks\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                )
            else:
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    async def go() -> None:
        server, port = await _serve(handler)
        async with server:
            pool = HttpPool("127.0.0.1", port, size=1)
            first = await pool.request("POST", "/orders", {"X-User-Id": "u1"})
            second = await pool.request("GET", "/chunked")
            await pool.close()
        assert (first.status, first.body, first.ok) == (201, b"ok", True)
        assert (second.status, second.body, second.headers["x-kind"]) == (
            200,
            b"hello world",
            "chunks",
        )

    asyncio.run(go())
    assert connections == 1  # kept alive


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
        await writer.drain()
        writer.close()  # but without "Connection: close": the client keeps it as idle

    async def go() -> list[int]:
        server, port = await _serve(handler)
        async with server:
            pool = HttpPool("127.0.0.1", port, size=1)
            statuses = []
            for _ in range(3):
                statuses.append((await pool.request("GET", "/")).status)
                await asyncio.sleep(0.05)  # let the close reach the client's socket
            await pool.close()
            return statuses

    assert asyncio.run(go()) == [200, 200, 200]


def test_no_answer_in_time_is_an_http_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.read()  # never answer; return once the client gives up and closes

    async def go() -> None:
        server, port = await _serve(handler)
        async with server:
            pool = HttpPool("127.0.0.1", port, timeout=0.2)
            with pytest.raises(HttpError, match="TimeoutError"):
                await pool.request("GET", "/slow")
            server.close()

    asyncio.run(go())


def test_garbage_is_an_http_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go() -> None:
        server, port = await _serve(handler)
        async with server:
            pool = HttpPool("127.0.0.1", port)
            with pytest.raises(HttpError, match=r"not an HTTP/1\.x status line"):
                await pool.request("GET", "/")

    asyncio.run(go())
