"""The demo plan's metric command for ``checkout_conversion``: asks the sample shop.

The built-in telemetry counts requests, errors and latency, not orders, so the demo plan gives
its business metric a ``command`` source (``rollout.providers.metrics.command``) that runs::

    python -m rollout.demo.conversions --start {start} --end {end} --step {step}

with the shop's address in ``$ROLLOUT_DEMO_SHOP`` (``rollout demo`` sets it). The shop answers
``GET /_demo/conversions`` with exactly the JSON the command source reads (checkout exposures
as ``requests`` and orders as ``conversions``, per arm and step; see
:mod:`rollout.demo.ledger`), and this command prints it. It exits 1 with the reason on stderr
when the shop cannot be asked.

The controller may run it every few seconds, so it imports nothing but ``socket``: a Python
that starts in a few dozen milliseconds leaves the CPU to the demo's traffic.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence

SHOP_ENV = "ROLLOUT_DEMO_SHOP"
"""Where the shop listens, ``host:port``."""


def _options(argv: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    items = list(argv)
    while items:
        name = items.pop(0)
        if not name.startswith("--") or not items:
            raise ValueError(f"expected --name value pairs, found {name!r}")
        found[name[2:]] = items.pop(0)
    for needed in ("start", "end", "step"):
        if needed not in found:
            raise ValueError(f"--{needed} is missing")
        float(found[needed])  # a number, or ValueError
    return found


def fetch(address: str, query: dict[str, str], timeout: float = 5.0) -> str:
    """The shop's answer to ``GET /_demo/conversions?<query>`` at ``address`` (host:port);
    ``OSError`` or ``ValueError`` when there is no good one."""
    host, _, port = address.rpartition(":")
    path = "/_demo/conversions?" + "&".join(f"{k}={v}" for k, v in query.items())
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("ascii"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    if status != [b"200"]:
        raise ValueError(f"the shop answered {head.splitlines()[0:1]!r}: {body[:200]!r}")
    return body.decode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        query = _options(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(f"usage: --start S --end E --step STEP [--canary on --control off]: {exc}",
              file=sys.stderr)  # fmt: skip
        return 2
    address = os.environ.get(SHOP_ENV)
    if not address:
        print(f"${SHOP_ENV} is not set: this command belongs to `rollout demo`", file=sys.stderr)
        return 1
    try:
        print(fetch(address, query))
    except (OSError, ValueError) as exc:
        print(f"cannot read conversions from the shop at {address}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
