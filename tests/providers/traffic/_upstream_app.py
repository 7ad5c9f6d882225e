"""A tiny HTTP app for the traffic tests: answers every request with its name.

Run as ``python _upstream_app.py NAME PORT``. Speaks just enough HTTP/1.1 (keep-alive unless the
client asks to close) to sit behind nginx or HAProxy, and is fast enough that a few thousand
requests take well under a second of its time.
"""

from __future__ import annotations

import asyncio
import sys


async def serve(name: str, port: int) -> None:
    body = name.encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").lower().split("\r\n")
                headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
                length = int(headers.get("content-length", "0").strip() or 0)
                if length:
                    await reader.readexactly(length)
                connection = headers.get("connection", "").strip()
                close = connection == "close" or (
                    lines[0].endswith("http/1.0") and connection != "keep-alive"
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(body)}\r\n".encode()
                    + (b"Connection: close\r\n" if close else b"")
                    + b"\r\n"
                    + body
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
