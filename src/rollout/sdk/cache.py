"""The last good config on disk, one file per (server, environment).

A client that cannot reach its server at start serves the config it last received, so a
restarted application keeps the flag values it had rather than falling back to every caller's
default. The file is written atomically (a temporary file in the same directory, flushed and
``fsync``-ed, then renamed over the old one), so a crash mid-write leaves the previous file,
never half of one. It holds a small envelope around the config JSON::

    {"format": 1, "server_url": "http://flags:8000", "environment": "production",
     "saved_at": 1767225600.0, "config": {...the FlagConfig JSON...}}

The file name is the environment (made file-name safe) plus the first 16 hex digits of
SHA-256 over ``server_url + NUL + environment``, so two servers never share a file; the envelope
is checked on reading as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rollout.errors import FlagError
from rollout.flags import CompiledConfig, FlagConfig
from rollout.sdk.snapshot import load_config

__all__ = ["CACHE_DIR_ENV", "CachedConfig", "ConfigCache", "default_cache_dir"]

CACHE_DIR_ENV = "ROLLOUT_CACHE_DIR"
_FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def default_cache_dir() -> Path:
    """``$ROLLOUT_CACHE_DIR``, else ``$XDG_CACHE_HOME/rollout``, else ``~/.cache/rollout``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rollout"


@dataclass(frozen=True)
class CachedConfig:
    """A config read back from disk, compiled, with the time (epoch seconds) it was saved."""

    config: FlagConfig
    compiled: CompiledConfig
    saved_at: float


class ConfigCache:
    """Reads and writes the cached config of one server and environment.

    Both methods raise ``OSError`` for file-system trouble; :meth:`load` raises
    :class:`rollout.errors.FlagError` for a file that is not a valid cache of this
    server and environment. The client catches both: a cache is a convenience, never a reason
    to fail.
    """

    def __init__(self, directory: str | os.PathLike[str], server_url: str, environment: str):
        self.directory = Path(directory)
        self.server_url = server_url
        self.environment = environment
        digest = hashlib.sha256(f"{server_url}\0{environment}".encode()).hexdigest()[:16]
        name = _UNSAFE.sub("_", environment)[:64] or "env"
        self.path = self.directory / f"{name}-{digest}.json"

    def save(self, config: FlagConfig) -> None:
        """Write ``config`` atomically, replacing the previous one."""
        envelope = {
            "format": _FORMAT,
            "server_url": self.server_url,
            "environment": self.environment,
            "saved_at": time.time(),
            "config": json.loads(config.to_json()),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(envelope, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self) -> CachedConfig | None:
        """The cached config, or ``None`` when there is no file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            envelope = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlagError(f"the cache file {self.path} is not JSON: {exc.msg}") from exc
        if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT:
            raise FlagError(f"the cache file {self.path} has an unknown format")
        owner = (envelope.get("server_url"), envelope.get("environment"))
        if owner != (self.server_url, self.environment):
            raise FlagError(f"the cache file {self.path} belongs to {owner[0]} / {owner[1]}")
        saved_at = envelope.get("saved_at")
        config, compiled = load_config(json.dumps(envelope.get("config")))
        return CachedConfig(
            config, compiled, float(saved_at) if isinstance(saved_at, int | float) else 0.0
        )
