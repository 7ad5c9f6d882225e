"""The on-disk config cache: round trip, atomic replacement, ownership, corruption."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sdk_support import boolean_flag, config_dict

from rollout.errors import FlagError
from rollout.flags import FlagConfig
from rollout.sdk import ConfigCache
from rollout.sdk.cache import default_cache_dir

CONFIG = FlagConfig.model_validate(config_dict(5, boolean_flag("f", 30)))


def test_a_saved_config_loads_back_equal_and_compiled(tmp_path: Path) -> None:
    cache = ConfigCache(tmp_path / "nested", "http://flags:8000", "production")
    assert cache.load() is None
    cache.save(CONFIG)
    cached = cache.load()
    assert cached is not None
    assert cached.config == CONFIG
    assert cached.compiled.version == 5
    assert cached.saved_at > 0


def test_saving_replaces_the_file_and_leaves_no_temporary_behind(tmp_path: Path) -> None:
    cache = ConfigCache(tmp_path, "http://flags:8000", "production")
    cache.save(CONFIG)
    cache.save(CONFIG.model_copy(update={"version": 6}))
    assert [p.name for p in tmp_path.iterdir()] == [cache.path.name]
    cached = cache.load()
    assert cached is not None and cached.config.version == 6


def test_a_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ConfigCache(tmp_path, "http://flags:8000", "production")
    cache.save(CONFIG)

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        cache.save(CONFIG.model_copy(update={"version": 6}))
    monkeypatch.undo()
    cached = cache.load()
    assert cached is not None and cached.config.version == 5
    assert [p.name for p in tmp_path.iterdir()] == [cache.path.name]


def test_servers_and_environments_get_separate_files(tmp_path: Path) -> None:
    paths = {
        ConfigCache(tmp_path, server, env).path
        for server in ("http://a:8000", "http://b:8000")
        for env in ("production", "staging", "prod/../x")
    }
    assert len(paths) == 6
    assert all(p.parent == tmp_path for p in paths)


def test_a_file_of_another_owner_or_corrupt_is_refused(tmp_path: Path) -> None:
    mine = ConfigCache(tmp_path, "http://a:8000", "production")
    ConfigCache(tmp_path, "http://b:8000", "production").save(CONFIG)
    theirs = ConfigCache(tmp_path, "http://b:8000", "production").path
    mine.path.write_text(theirs.read_text(), encoding="utf-8")
    with pytest.raises(FlagError, match="belongs to http://b:8000"):
        mine.load()
    mine.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(FlagError, match="not JSON"):
        mine.load()
    envelope = json.loads(theirs.read_text())
    envelope.update(server_url="http://a:8000", config={"environment": "x", "version": -1})
    mine.path.write_text(json.dumps(envelope), encoding="utf-8")
    with pytest.raises(FlagError, match="version"):
        mine.load()


def test_the_default_directory_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLOUT_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("ROLLOUT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rollout"
