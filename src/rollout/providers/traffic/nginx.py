"""The nginx router: upstream weights in an included file, checked, reloaded, read back.

Plan block::

    traffic:
      type: nginx
      config_file: /etc/nginx/rollout/app-upstream.conf   # included inside http { }
      upstream: app
      stable: 10.0.0.1:8080
      canary: 10.0.0.2:8080
      nginx: nginx                      # the command; flags such as -p PREFIX may follow
      nginx_config: /etc/nginx/nginx.conf
      status_url: http://127.0.0.1/rollout-status   # optional, see below

The router owns ``config_file`` (see :mod:`._nginx_conf` for what it keeps in it). Each weight
change, under a lock file beside it (``.<name>.rollout-lock``):

1. writes the new upstream block to a temporary file and renames it over ``config_file``
   (readers never see half a file), keeping the previous text;
2. runs ``nginx -T -c <nginx_config>``: if nginx rejects the config, the previous text is put
   back and ``TrafficError`` carries nginx's message;
3. finds the master process from the ``pid`` file the config names (or nginx's built-in
   default) and sends it SIGHUP;
4. proves the reload happened: the master must start new workers while the old ones stop
   serving (:mod:`._nginx_proc`). If that does not happen within ``reload_timeout`` seconds the
   previous text is put back and ``TrafficError`` says so: nginx is still serving the old
   config, which is now also what the file says;
5. reads back the file nginx accepted and checks its weights are the ones written. With a
   ``status_url``, the file also sets ``$rollout_version_<upstream>`` to a fresh token, and the
   router requires the URL's body to contain that token, which proves this very write is live.
   Serve it with::

       location = /rollout-status { return 200 "$rollout_version_app"; }

nginx refuses ``weight=0``, so a server at 0 % is written ``down``; blue-green is 0 % or 100 %.
A percentage becomes the closest ratio of weights up to ``MAX_WEIGHT`` (5 % is 19:1). Because
the router signals the master and reads its processes, it must run on the nginx host as a user
allowed to signal the master.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shlex
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from rollout.errors import TrafficError
from rollout.plan.model import NginxRouter
from rollout.providers.process import run, tail
from rollout.providers.traffic._base import (
    AppliedWeight,
    RouterContext,
    check_percent,
    format_percent,
)
from rollout.providers.traffic._nginx_conf import (
    ConfError,
    UpstreamFile,
    check_word,
    read_upstream,
    render_upstream,
)
from rollout.providers.traffic._nginx_proc import Generation, alive, read_generation
from rollout.providers.traffic._weights import share_percent, split_weights

MAX_WEIGHT = 10_000
"""Largest weight written; ratios up to 1:10,000 resolve percentages to about 0.01 %."""

_PID_DIRECTIVE = re.compile(r"^\s*pid\s+([^;\s]+)\s*;", re.MULTILINE)
_POLL = 0.05  # seconds between looks at the master's workers / the status URL


class NginxTrafficRouter:
    """Moves traffic between two servers of an nginx upstream (see the module docstring)."""

    def __init__(
        self,
        spec: NginxRouter,
        context: RouterContext,
        *,
        reload_timeout: float = 10.0,
        command_timeout: float = 30.0,
    ) -> None:
        try:
            check_word(spec.upstream, "upstream name")
            check_word(spec.stable, "stable server")
            check_word(spec.canary, "canary server")
        except ConfError as exc:
            raise TrafficError(str(exc)) from exc
        if spec.stable == spec.canary:
            raise TrafficError(f"stable and canary are the same server ({spec.stable})")
        self.spec = spec
        self.context = context
        self.config_file = context.resolve(spec.config_file)
        self.main_config = context.resolve(spec.nginx_config) if spec.nginx_config else None
        self.reload_timeout = reload_timeout
        self.command_timeout = command_timeout
        self._command = shlex.split(spec.nginx)
        self._defaults: dict[str, str] | None = None
        if not self._command:
            raise TrafficError("the nginx command is empty")

    # ------------------------------------------------------------------ the protocol

    def set_weight(self, canary_percent: float, key: str) -> AppliedWeight:
        percent = check_percent(canary_percent)
        weights = split_weights(percent, MAX_WEIGHT)
        with self._lock():
            previous = self._read_text()
            kept = self._parse(previous or "")
            token = secrets.token_hex(8) if self.spec.status_url else None
            note = f"canary {format_percent(percent)}%" + (f", action {key}" if key else "")
            self._write(
                render_upstream(
                    self.spec.upstream,
                    self.spec.stable,
                    self.spec.canary,
                    weights,
                    kept=kept,
                    token=token,
                    note=note,
                )
            )
            try:
                master = self._test_and_find_master()
                proof = self._reload(master)
            except TrafficError:
                self._restore(previous)
                raise
            live = self._parse(self._read_text() or "")
        if (live.stable_weight, live.canary_weight) != weights:
            raise TrafficError(
                f"read-back mismatch in {self.config_file}: wrote weights {weights[0]}:"
                f"{weights[1]} but the file now holds {live.stable_weight}:{live.canary_weight}"
            )
        if token is not None:
            self._await_status(token)
        share = share_percent(live.stable_weight, live.canary_weight)
        return AppliedWeight(percent, share, verified=True, detail=self._describe(live, proof))

    def get_weight(self) -> float:
        """The share the file nginx accepted gives the canary; with a ``status_url`` the router
        also checks that this file is the one live."""
        with self._lock():
            live = self._parse(self._read_text() or "")
        if self.spec.status_url and live.token is not None:
            self._await_status(live.token)
        return share_percent(live.stable_weight, live.canary_weight)

    def finalize(self, promoted: bool, key: str = "") -> AppliedWeight:
        return self.set_weight(100.0 if promoted else 0.0, key)

    # ------------------------------------------------------------------ steps

    def _test_and_find_master(self) -> int:
        """``nginx -T``: test the whole config, and find the pid file in the dump."""
        argv = [*self._command, "-T", *self._config_args()]
        # The whole dump is searched for the pid directive, which sits near its top.
        done = run(argv, timeout=self.command_timeout, grace=0, limit=None)
        done = done.or_raise("nginx -t", TrafficError)
        if done.returncode != 0:
            raise TrafficError(
                f"nginx rejected the new {self.config_file.name} (nginx -t); the previous file "
                f"is restored. nginx says:\n{tail(done.stderr) or done.output}"
            )
        pid_file = self._pid_file(done.stdout)
        try:
            master = int(pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise TrafficError(
                f"nginx does not seem to run: cannot read its master pid from {pid_file} ({exc})"
            ) from exc
        if not alive(master):
            raise TrafficError(f"nginx is not running: pid {master} from {pid_file} is gone")
        return master

    def _reload(self, master: int) -> Generation:
        before = read_generation(master)
        try:
            os.kill(master, signal.SIGHUP)
        except OSError as exc:
            raise TrafficError(f"cannot signal the nginx master (pid {master}): {exc}") from exc
        deadline = time.monotonic() + self.reload_timeout
        while True:
            now = read_generation(master)
            if now.replaced(before):
                return now
            if time.monotonic() >= deadline or not alive(master):
                raise TrafficError(
                    f"nginx accepted the config but its master (pid {master}) did not start "
                    f"new workers within {self.reload_timeout:g} s, so the reload did not take "
                    "(nginx's error log says why); nginx still serves the previous config and "
                    "the previous file is restored"
                )
            time.sleep(_POLL)

    def _await_status(self, token: str) -> None:
        url = self.spec.status_url
        assert url is not None
        deadline = time.monotonic() + self.reload_timeout
        last = ""
        while True:
            try:
                response = httpx.get(url, timeout=min(5.0, max(self.reload_timeout, 0.5)))
                if token in response.text:
                    return
                last = f"HTTP {response.status_code}: {tail(response.text, 200)!r}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise TrafficError(
                    f"cannot confirm the live nginx config: {url} did not report version "
                    f"{token} within {self.reload_timeout:g} s (last answer {last})"
                )
            time.sleep(_POLL)

    # ------------------------------------------------------------------ the file

    def _read_text(self) -> str | None:
        try:
            return self.config_file.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TrafficError(f"cannot read {self.config_file}: {exc}") from exc

    def _parse(self, text: str) -> UpstreamFile:
        try:
            return read_upstream(text, self.spec.upstream, self.spec.stable, self.spec.canary)
        except ConfError as exc:
            raise TrafficError(f"{self.config_file}: {exc}") from exc

    def _write(self, text: str) -> None:
        """Replace the file atomically: a reader sees the old text or the new, never half."""
        target = self.config_file
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        try:
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise TrafficError(f"cannot write beside {target}: {exc}") from exc
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise TrafficError(f"cannot write {target}: {exc}") from exc

    def _restore(self, previous: str | None) -> None:
        if previous is None:
            with contextlib.suppress(FileNotFoundError):
                self.config_file.unlink()
        else:
            self._write(previous)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # One writer at a time per file: two rollouts (or two replicas) must not interleave
        # write -> test -> reload on the same upstream.
        path = self.config_file.parent / f".{self.config_file.name}.rollout-lock"
        try:
            handle = open(path, "a")  # noqa: SIM115 - held for the duration of the block
        except OSError as exc:
            raise TrafficError(f"cannot create the lock file {path}: {exc}") from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ nginx's own paths

    def _config_args(self) -> list[str]:
        return ["-c", str(self.main_config)] if self.main_config else []

    def _pid_file(self, dump: str) -> Path:
        match = _PID_DIRECTIVE.search(dump)
        named = match.group(1).strip("\"'") if match else self._built_in().get("pid-path", "")
        if not named:
            raise TrafficError(
                "cannot tell where nginx keeps its pid file; set 'pid' in its config"
            )
        path = Path(named)
        if path.is_absolute():
            return path
        prefix = self._option("-p") or self._built_in().get("prefix", "/")
        return Path(prefix) / path

    def _option(self, flag: str) -> str | None:
        args = self._command
        for index, arg in enumerate(args[:-1]):
            if arg == flag:
                return args[index + 1]
        return None

    def _built_in(self) -> dict[str, str]:
        """nginx's compiled-in defaults (``--prefix``, ``--pid-path``) from ``nginx -V``."""
        if self._defaults is None:
            version = [*self._command, "-V"]
            done = run(version, timeout=self.command_timeout, grace=0).or_raise(
                "nginx -V", TrafficError
            )
            self._defaults = dict(re.findall(r"--([a-z-]+)=(\S+)", done.stderr + done.stdout))
        return self._defaults

    def _describe(self, live: UpstreamFile, proof: Generation) -> str:
        def side(address: str, weight: int) -> str:
            return f"{address} down" if weight == 0 else f"{address} weight {weight}"

        share = share_percent(live.stable_weight, live.canary_weight)
        workers = ", ".join(str(pid) for pid in sorted(proof.serving_workers()))
        return (
            f"nginx upstream {self.spec.upstream}: {side(self.spec.stable, live.stable_weight)}, "
            f"{side(self.spec.canary, live.canary_weight)} ({format_percent(share)}% canary); "
            f"reload confirmed: master {proof.master} runs new workers {workers}"
        )
