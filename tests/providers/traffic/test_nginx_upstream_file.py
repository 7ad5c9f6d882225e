"""The upstream file the nginx router owns: parse, keep the user's settings, refuse the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.providers.traffic._nginx_conf import (
    ConfError,
    UpstreamFile,
    parse,
    read_upstream,
    render_upstream,
)
from rollout.providers.traffic._nginx_proc import Generation

S, C = "10.0.0.1:8080", "10.0.0.2:8080"

USER_FILE = f"""\
# the team's upstream
upstream app {{
    zone app 64k;
    keepalive 16;   # reuse connections
    server {S} max_fails=3 fail_timeout=5s;
    server {C} weight=4 backup;
}}
"""


def test_reads_weights_directives_and_server_parameters() -> None:
    found = read_upstream(USER_FILE, "app", S, C)
    assert (found.stable_weight, found.canary_weight) == (1, 4)
    assert found.directives == ("zone app 64k;", "keepalive 16;")
    assert found.params_of(S) == ("max_fails=3", "fail_timeout=5s")
    assert found.params_of(C) == ()  # weight and backup are the router's to set
    assert found.token is None


def test_down_and_missing_servers_read_as_zero() -> None:
    found = read_upstream(f"upstream app {{ server {S} down; }}", "app", S, C)
    assert (found.stable_weight, found.canary_weight) == (0, 0)
    assert read_upstream("", "app", S, C) == UpstreamFile(0, 0)


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.none() | st.text("0123456789abcdef"))
def test_render_then_read_gives_back_what_was_written(
    stable: int, canary: int, token: str | None
) -> None:
    kept = read_upstream(USER_FILE, "app", S, C)
    text = render_upstream(
        "app", S, C, (stable, canary), kept=kept, token=token, note="canary 5%\nline two"
    )
    again = read_upstream(text, "app", S, C)
    assert (again.stable_weight, again.canary_weight) == (stable, canary)
    assert again.directives == kept.directives
    assert again.server_params == kept.server_params
    assert again.token == token
    assert "weight=0" not in text  # nginx refuses it; zero is `down`


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server { listen 80; }", "must hold only 'upstream app"),
        ("upstream other { server 10.0.0.1:8080; }", "defines upstream 'other'"),
        (f"upstream app {{ server {S}; server 10.9.9.9:1; }}", "neither the stable"),
        (f"upstream app {{ server {S}; server {S}; }}", "listed twice"),
        (f"upstream app {{ server {S} weight=x; }}", "not a whole-number weight"),
        (f"upstream app {{ server {S} }}", "lacks its ';'"),
        (f"upstream app {{ server {S};", "'}' is missing"),
        ("upstream app { } }", "unexpected '}'"),
        ('map $a $b { default "x; }', "unterminated quote"),
        ("upstream app {} upstream app {}", "defined twice"),
    ],
)
def test_a_file_the_router_must_not_rewrite_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfError, match=message):
        read_upstream(text, "app", S, C)


def test_parse_keeps_quoted_words_and_lines() -> None:
    [statement] = parse('\n\nmap $remote_addr $v { default "a b;c"; }')
    assert statement.line == 3
    assert statement.block is not None
    assert statement.block[0].words == ("default", '"a b;c"')


def generation(*children: tuple[int, str]) -> Generation:
    return Generation(master=1, children=children)


def test_a_reload_is_proven_by_new_workers_while_old_ones_stop_serving() -> None:
    before = generation((10, "nginx: worker process"), (11, "nginx: worker process"))
    assert not before.replaced(before)
    # The master re-read nothing: same workers.
    assert not generation((10, "nginx: worker process")).replaced(before)
    # New workers, old ones shutting down: the new config is live.
    after = generation(
        (10, "nginx: worker process is shutting down"),
        (20, "nginx: worker process"),
        (21, "nginx: worker process"),
    )
    assert after.replaced(before)
    # A crashed worker respawned while the other old one still serves: not a reload.
    assert not generation((11, "nginx: worker process"), (30, "nginx: worker process")).replaced(
        before
    )
