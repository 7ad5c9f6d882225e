"""Flag-change propagation: how long after a flag change 1,000 streaming SDK clients hold it.

Set-up: one real Rollout server (``rollout.server.app.create_app`` over a SQLite store in a
temporary directory) under uvicorn in its own process on 127.0.0.1, and ``--clients`` SSE
clients in this process on one asyncio loop, each on its own connection to
``GET /api/v1/environments/bench/stream``. Two kinds of client:

* ``--sdk-clients`` (default 20) run the SDK's own code end to end:
  :class:`rollout.sdk.sync.ConfigSync` (httpx streaming, the SSE decoder, Last-Event-ID,
  reconnects), then ``rollout.sdk.snapshot.load_config`` -- validate the JSON into a
  ``FlagConfig`` and compile it -- and one evaluation of the changed flag. Their time is
  "evaluation-ready": the config's arrival plus the duration of that validate, compile and
  evaluate step, which runs after the round (on this one loop it would hold up the other
  clients' reads, while each application does it on its own, in parallel).
* the rest are light clients: an ``asyncio.Protocol`` that speaks the HTTP/1.1 request and
  chunked body itself and feeds the lines to the SDK's :class:`rollout.sdk.sse.SSEDecoder`; a
  client has the change when the ``config`` event whose id is the new version is complete.

Why not 1,000 full SDK clients: the SDK's per-client work (httpx and its connection pool, about
a millisecond to validate and compile this config) is done by each application in its own
process, in parallel; run 1,000 times over in one Python process on a 2-core machine it would
measure this process queueing them, not propagation. A light client costs about 15 us of
Python per event (plus the socket read), so the pooled figure measures the server's commit and
fan-out and the delivery, and this process reading 1,000 streams on one core; the SDK sample
shows what the full client path adds on top.

A round changes the flag's rollout percent through the HTTP API
(``POST /api/v1/environments/bench/flags/new-checkout/rollout``). Latency of a client = the
moment it holds the new version minus the moment just before the change request was sent, so it
includes the request, the commit, the fan-out and delivery: an upper bound on "commit to
client". Both ends are read from this process's ``time.perf_counter``. Figures are per client,
pooled over the rounds; a warm-up round is not counted.

Peers, as documented (stated, not run): LaunchDarkly streams changes to server SDKs and speaks
of about 200 ms; Unleash's Python SDK polls every 15 s by default (``refresh_interval=15``), so a
change takes 7.5 s on average and up to 15 s; GrowthBook's Python SDK caches features for 600 s
by default (its feature cache's ``ttl=600``) unless streaming is set up.

Usage: ``python bench/propagation.py [--clients 1000] [--sdk-clients 20] [--rounds 5]
[--check]``. With ``--check`` the exit status is 1 when the pooled p99 is 100 ms or more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rollout.sdk.snapshot import load_config
from rollout.sdk.sse import SSEDecoder
from rollout.sdk.sync import ConfigSync, SyncMode, SyncSettings, stream_path

ENV = "bench"
FLAG = "new-checkout"
GOAL_P99_MS = 100.0
PEERS = (
    ("LaunchDarkly, streaming (documented)", "~200 ms"),
    ("Unleash Python SDK, polling every 15 s (default)", "7.5 s on average, 15 s worst"),
    ("GrowthBook Python SDK, 600 s feature cache (default)", "up to 600 s"),
)


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve(database: str, port: int) -> None:
    """The server process: the real app on 127.0.0.1:``port`` until terminated."""
    raise_fd_limit(65536)
    from rollout.server.app import create_app
    from rollout.server.run import bind, make_server
    from rollout.store import open_store

    server = make_server(create_app(open_store(database), auth=False))
    server.run(sockets=[bind("127.0.0.1", port)])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc (Linux); None
    elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def flag_definitions() -> list[dict[str, object]]:
    """Ten flags like a small service has: a country rule, then a percentage rollout."""
    return [
        {
            "key": FLAG if i == 0 else f"flag-{i}",
            "rules": [
                {
                    "clauses": [{"attribute": "country", "op": "in", "values": ["NL", "BE"]}],
                    "serve": {"variant": "on"},
                }
            ],
            "fallthrough": {"rollout": {"variant": "on", "percent": 10, "rest": "off"}},
        }
        for i in range(10)
    ]


@dataclass
class Board:
    """Counts the clients holding the target version; wakes the round when all do."""

    clients: int
    target: int = 0
    arrived: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    failures: list[str] = field(default_factory=list)
    closing: bool = False  # the bench is hanging up: lost streams are expected

    def expect(self, target: int) -> None:
        self.target, self.arrived = target, 0
        self.done.clear()

    def holds(self, version: int) -> None:
        if version == self.target:
            self.arrived += 1
            if self.arrived == self.clients:
                self.done.set()


class SdkClient:
    """A full SDK client's update path: a ConfigSync sink that validates, compiles and
    evaluates every config it receives.

    Each application does that work in its own process, in parallel with every other; done
    here, on the one loop that also reads the other clients' streams, 20 of them would hold
    that loop for about 20 ms per change and delay whichever clients it reads after them. So
    ``apply`` notes when the config arrived, and :meth:`finish` (after the round) validates,
    compiles and evaluates it and counts the client ready at its arrival plus that work's own
    duration: what the application sees on a core of its own.
    """

    def __init__(self, board: Board) -> None:
        self.board = board
        self.version: int | None = None
        self.arrived_at = 0.0
        self.ready_at = 0.0
        self.compile_ms = 0.0
        self._text = ""

    def server_version(self) -> int | None:
        return self.version

    def apply(self, text: str) -> None:
        self.arrived_at = time.perf_counter()
        self._text = text
        self.version = int(json.loads(text)["version"])
        self.board.holds(self.version)

    def finish(self) -> None:
        """Validate, compile and evaluate the config received last (see the class docstring)."""
        started = time.perf_counter()
        config, compiled = load_config(self._text)
        compiled.evaluate(FLAG, {"targeting_key": "user-1", "country": "DE"}, False)
        self.compile_ms = (time.perf_counter() - started) * 1000
        if config.version != self.version:
            self.board.failures.append(f"version {config.version} != {self.version}")
        self.ready_at = self.arrived_at + self.compile_ms / 1000

    def failed(self, message: str) -> None:
        self.board.failures.append(message)

    def mode_changed(self, mode: SyncMode) -> None:
        return None


class LightClient(asyncio.Protocol):
    """An SSE client in about 15 us per event: HTTP/1.1 and chunked decoding by hand,
    lines through the SDK's SSEDecoder; a ``config`` event's id is the version it carries."""

    def __init__(self, board: Board, request: bytes) -> None:
        self.board = board
        self.request = request
        self.version: int | None = None
        self.arrived_at = 0.0
        self._raw = bytearray()
        self._in_body = False
        self._text = ""
        self._decoder = SSEDecoder()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.board.closing:
            self.board.failures.append(f"a light client lost its stream: {exc!r}")

    def data_received(self, data: bytes) -> None:
        raw = self._raw
        raw += data
        if not self._in_body:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(raw[:end]).lower()
            if not head.startswith(b"http/1.1 200") or b"transfer-encoding: chunked" not in head:
                self.board.failures.append(f"unexpected answer: {head[:80]!r}")
                return
            del raw[: end + 4]
            self._in_body = True
        while True:  # chunked transfer coding: size in hex, CRLF, data, CRLF
            line_end = raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(raw[:line_end], 16)
            if len(raw) < line_end + 4 + size:
                return
            chunk = raw[line_end + 2 : line_end + 2 + size].decode()
            del raw[: line_end + 4 + size]
            self._feed(chunk)

    def _feed(self, text: str) -> None:
        *lines, self._text = (self._text + text).split("\n")
        for line in lines:
            event = self._decoder.feed(line.removesuffix("\r"))
            if event is not None and event.type == "config":
                self.arrived_at = time.perf_counter()
                self.version = int(event.id)
                self.board.holds(self.version)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of the values at or
    below it (for 1,000 values, p99 is the 990th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):6.1f}  p90 {percentile(values, 90):6.1f}  "
        f"p99 {percentile(values, 99):6.1f}  max {max(values):6.1f}"
    )


@dataclass
class Results:
    pooled: list[float] = field(default_factory=list)
    sdk: list[float] = field(default_factory=list)
    compile_ms: list[float] = field(default_factory=list)
    server_cpu_ms: list[float] = field(default_factory=list)  # per change
    client_cpu_ms: list[float] = field(default_factory=list)  # per change, all clients


async def run(url: str, port: int, server_pid: int, args: argparse.Namespace) -> Results:
    board = Board(args.clients)
    results = Results()
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as admin:
        for flag in flag_definitions():
            answer = await admin.put(f"/api/v1/environments/{ENV}/flags/{flag['key']}", json=flag)
            answer.raise_for_status()
        version = int((await admin.get(f"/api/v1/environments/{ENV}/config")).json()["version"])
        board.expect(version)

        settings = SyncSettings(ENV, stream_read_timeout=120.0, failures_before_polling=1000)
        sdk_clients = [SdkClient(board) for _ in range(args.sdk_clients)]
        https = [httpx.AsyncClient(base_url=url, timeout=30.0) for _ in sdk_clients]
        tasks = [
            asyncio.create_task(ConfigSync(http, settings, client).run())
            for http, client in zip(https, sdk_clients, strict=True)
        ]
        request = (
            f"GET {stream_path(ENV)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        light: list[LightClient] = []
        transports: list[asyncio.BaseTransport] = []
        started = time.perf_counter()
        for _ in range(args.clients - args.sdk_clients):
            transport, protocol = await loop.create_connection(
                lambda: LightClient(board, request), "127.0.0.1", port
            )
            light.append(protocol)
            transports.append(transport)
        await asyncio.wait_for(board.done.wait(), 120)
        for client in sdk_clients:
            client.finish()
        print(
            f"{args.clients} clients ({args.sdk_clients} full SDK) hold version {version}, "
            f"connected in {time.perf_counter() - started:.1f} s"
        )
        everyone: list[SdkClient | LightClient] = [*sdk_clients, *light]
        try:
            for round_number in range(args.rounds + 1):
                await asyncio.sleep(0.5)  # the machine idles between changes
                version += 1
                board.expect(version)
                percent = 20 if round_number % 2 == 0 else 10
                server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
                sent = time.perf_counter()
                answer = await admin.post(
                    f"/api/v1/environments/{ENV}/flags/{FLAG}/rollout", json={"percent": percent}
                )
                answer.raise_for_status()
                await asyncio.wait_for(board.done.wait(), 60)
                client_cpu = time.process_time() - client_cpu
                server_after = cpu_seconds(server_pid)
                for client in sdk_clients:
                    client.finish()  # after the CPU readings: each application's own work
                latencies = [
                    ((c.ready_at if isinstance(c, SdkClient) else c.arrived_at) - sent) * 1000
                    for c in everyone
                ]
                label = "warm-up" if round_number == 0 else f"round {round_number}"
                print(f"{label:8} (to {percent:2d} %): {summary(latencies)} ms")
                if round_number == 0:
                    continue
                results.pooled.extend(latencies)
                results.sdk.extend(latencies[: len(sdk_clients)])
                results.compile_ms.extend(c.compile_ms for c in sdk_clients)
                results.client_cpu_ms.append(client_cpu * 1000)
                if server_cpu is not None and server_after is not None:
                    results.server_cpu_ms.append((server_after - server_cpu) * 1000)
        finally:
            board.closing = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for transport in transports:
                transport.close()
            for http in https:
                await http.aclose()
    if board.failures:
        print(f"stream failures before the end: {len(board.failures)} ({board.failures[0]})")
    return results


def wait_for_server(url: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--sdk-clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("DATABASE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    if not 0 <= args.sdk_clients <= args.clients:
        parser.error("--sdk-clients must be between 0 and --clients")

    limit = raise_fd_limit(args.clients + args.sdk_clients + 256)
    if limit < args.clients + args.sdk_clients + 64:
        print(f"the open-file limit is {limit}: too low for {args.clients} clients")
        return 2
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'rollout.db'}"
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", database, str(port)])
        try:
            url = f"http://127.0.0.1:{port}"
            if not wait_for_server(url, server):
                print("the server did not start")
                return 2
            results = asyncio.run(run(url, port, server.pid, args))
        finally:
            server.terminate()
            server.wait(10)

    p99 = percentile(results.pooled, 99)
    print()
    deliveries = f"all {args.clients} clients, {len(results.pooled)} deliveries:"
    print(f"{deliveries:37} {summary(results.pooled)} ms")
    if results.sdk:
        print(f"{'full SDK clients (evaluation-ready):':37} {summary(results.sdk)} ms")
        compile_ms = statistics.median(results.compile_ms)
        print(f"  of which validate + compile + evaluate: median {compile_ms:.2f} ms per client")
    # CPU per change does not depend on what else the machine runs; a wall-clock tail far above
    # it means the two processes were waiting for a core. The mean, not the median: /proc counts
    # in ticks of 10 ms, and the mean of several rounds is finer than one round's reading.
    cpu = f"client process {statistics.fmean(results.client_cpu_ms):.0f} ms"
    if results.server_cpu_ms:
        cpu = f"server {statistics.fmean(results.server_cpu_ms):.0f} ms, " + cpu
    print(f"CPU per change (mean): {cpu}")
    print()
    goal = f"goal < {GOAL_P99_MS:.0f} ms"
    print(f"Rollout, streaming to {args.clients} clients: p99 {p99:.0f} ms ({goal})")
    for name, figure in PEERS:
        print(f"{name}: {figure}")
    if args.check and p99 >= GOAL_P99_MS:
        print(f"FAIL: p99 {p99:.1f} ms is not below {GOAL_P99_MS:.0f} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
