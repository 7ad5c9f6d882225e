"""The HAProxy router: server weights set live through the runtime API, then read back.

Plan block::

    traffic:
      type: haproxy
      socket: /run/haproxy/admin.sock   # `stats socket ... level admin` in haproxy's global
      backend: app
      stable: app-v1                    # server names inside the backend
      canary: app-v2

A weight change sends, one command per connection to the UNIX socket:

- for each server that should take traffic: ``set weight <backend>/<server> N`` then
  ``set server <backend>/<server> state ready``;
- for a server at 0 %: ``set server <backend>/<server> state drain`` then ``set weight ... 0``
  (draining lets persistent sessions finish while new requests go elsewhere).

The side gaining traffic is changed first, so no moment has both servers out. Then it reads back
``get weight`` for both servers and their state from ``show servers state <backend>``: the
canary's live share counts a server's weight only while it is neither drained nor in
maintenance nor down. A share that differs from the weights written (someone else changed them,
or a health check took a server down) is a ``TrafficError``.

Weights are integers up to ``MAX_WEIGHT`` (HAProxy's limit), so a percentage becomes the closest
ratio: 5 % is 19:1, but 0.1 % can only be 1:256 (0.389 %); the result reports the live share.
The share is between the two named servers only; other servers of the backend keep their
weights. The backend's ``balance`` must be dynamic (``roundrobin``, ``leastconn``, ...):
``static-rr`` only accepts 0 % / 100 %, which HAProxy itself reports and the router passes on.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from rollout.errors import TrafficError
from rollout.plan.model import HaproxyRouter
from rollout.providers.traffic._base import (
    AppliedWeight,
    RouterContext,
    check_percent,
    format_percent,
)
from rollout.providers.traffic._weights import share_percent, split_weights

MAX_WEIGHT = 256
"""HAProxy accepts absolute weights from 0 to 256."""

# srv_admin_state bits (HAProxy management guide, "show servers state"): the drain bits
# (forced 0x08, inherited 0x10); every other bit is a kind of maintenance.
_DRAIN_BITS = 0x08 | 0x10
# srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping.
_SERVING_OP_STATES = {1, 2}
_GET_WEIGHT = re.compile(r"^\s*(\d+)\s*\(initial\s+(\d+)\)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True)
class ServerState:
    """One server as read back: its weight, and whether it takes new traffic."""

    name: str
    weight: int
    drained: bool
    maintenance: bool
    running: bool

    @property
    def effective(self) -> int:
        """The weight that counts for new requests (0 when drained, in maintenance or down)."""
        serving = self.running and not self.drained and not self.maintenance
        return self.weight if serving else 0

    def describe(self) -> str:
        notes = [
            note
            for flag, note in (
                (self.drained, "drained"),
                (self.maintenance, "in maintenance"),
                (not self.running, "down"),
            )
            if flag
        ]
        return f"{self.name} weight {self.weight}" + (f" ({', '.join(notes)})" if notes else "")


class HaproxyTrafficRouter:
    """Moves traffic between two servers of a HAProxy backend (see the module docstring)."""

    def __init__(self, spec: HaproxyRouter, context: RouterContext, *, timeout: float = 5.0):
        for what, name in (
            ("backend", spec.backend),
            ("stable server", spec.stable),
            ("canary server", spec.canary),
        ):
            if not _NAME.match(name):
                raise TrafficError(f"{what} name {name!r} is not a HAProxy name")
        if spec.stable == spec.canary:
            raise TrafficError(f"stable and canary are the same server ({spec.stable})")
        self.spec = spec
        self.socket_path = context.resolve(spec.socket)
        self.timeout = timeout

    def set_weight(self, canary_percent: float, key: str) -> AppliedWeight:
        """Apply the weights (``key`` is not needed: setting a weight is idempotent)."""
        percent = check_percent(canary_percent)
        stable_weight, canary_weight = split_weights(percent, MAX_WEIGHT)
        targets = [(self.spec.stable, stable_weight), (self.spec.canary, canary_weight)]
        # Gaining side first, so both servers are never out of rotation at once.
        targets.sort(key=lambda target: target[1] == 0)
        for server, weight in targets:
            if weight > 0:
                self._command(f"set weight {self._path(server)} {weight}", expect_empty=True)
                self._command(f"set server {self._path(server)} state ready", expect_empty=True)
            else:
                self._command(f"set server {self._path(server)} state drain", expect_empty=True)
                self._command(f"set weight {self._path(server)} 0", expect_empty=True)
        stable, canary = self._read()
        if (stable.weight, canary.weight) != (stable_weight, canary_weight):
            raise TrafficError(
                f"read-back mismatch: set weights {stable_weight}:{canary_weight} but HAProxy "
                f"reports {stable.describe()}, {canary.describe()}"
            )
        live = share_percent(stable.effective, canary.effective)
        expected = share_percent(stable_weight, canary_weight)
        if live != expected:
            raise TrafficError(
                f"HAProxy took the weights but the live split is {format_percent(live)}% "
                f"canary, not {format_percent(expected)}%: {stable.describe()}, "
                f"{canary.describe()}"
            )
        return AppliedWeight(
            percent,
            live,
            verified=True,
            detail=(
                f"haproxy backend {self.spec.backend}: {stable.describe()}, "
                f"{canary.describe()} ({format_percent(live)}% canary)"
            ),
        )

    def get_weight(self) -> float:
        stable, canary = self._read()
        return share_percent(stable.effective, canary.effective)

    def finalize(self, promoted: bool, key: str = "") -> AppliedWeight:
        return self.set_weight(100.0 if promoted else 0.0, key)

    # ------------------------------------------------------------------ runtime API

    def _path(self, server: str) -> str:
        return f"{self.spec.backend}/{server}"

    def _read(self) -> tuple[ServerState, ServerState]:
        states = self._server_states()
        return self._server(self.spec.stable, states), self._server(self.spec.canary, states)

    def _server(self, name: str, states: dict[str, tuple[int, int]]) -> ServerState:
        answer = self._command(f"get weight {self._path(name)}")
        match = _GET_WEIGHT.match(answer)
        if match is None:
            raise TrafficError(f"HAProxy answered 'get weight {self._path(name)}' with {answer!r}")
        if name not in states:
            raise TrafficError(
                f"server {name} is missing from 'show servers state {self.spec.backend}'"
            )
        op_state, admin_state = states[name]
        return ServerState(
            name=name,
            weight=int(match.group(1)),
            drained=bool(admin_state & _DRAIN_BITS),
            maintenance=bool(admin_state & ~_DRAIN_BITS),
            running=op_state in _SERVING_OP_STATES,
        )

    def _server_states(self) -> dict[str, tuple[int, int]]:
        """server name -> (srv_op_state, srv_admin_state) of the backend's servers."""
        answer = self._command(f"show servers state {self.spec.backend}")
        lines = [line for line in answer.splitlines() if line.strip()]
        header = next((line for line in lines if line.startswith("#")), None)
        if header is None:
            raise TrafficError(
                f"HAProxy answered 'show servers state {self.spec.backend}' with {answer!r}"
            )
        columns = header.lstrip("# ").split()
        try:
            name_at = columns.index("srv_name")
            op_at = columns.index("srv_op_state")
            admin_at = columns.index("srv_admin_state")
        except ValueError as exc:
            raise TrafficError(f"unexpected 'show servers state' header: {header!r}") from exc
        states = {}
        for line in lines[lines.index(header) + 1 :]:
            fields = line.split()
            if len(fields) > max(name_at, op_at, admin_at):
                states[fields[name_at]] = (int(fields[op_at]), int(fields[admin_at]))
        return states

    def _command(self, command: str, *, expect_empty: bool = False) -> str:
        """Send one runtime API command and return HAProxy's answer.

        With ``expect_empty`` any answer is HAProxy refusing the command (it answers a
        successful ``set`` with an empty line), raised as ``TrafficError``.
        """
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout)
                conn.connect(str(self.socket_path))
                conn.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise TrafficError(
                f"cannot talk to HAProxy's runtime API at {self.socket_path} ({command!r}): {exc}"
            ) from exc
        answer = b"".join(chunks).decode("utf-8", errors="replace").strip()
        if expect_empty and answer:
            raise TrafficError(f"HAProxy refused {command!r}: {answer}")
        return answer
