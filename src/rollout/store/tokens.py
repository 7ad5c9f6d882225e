"""API tokens: only a SHA-256 of each secret is kept, so a stolen database holds no secrets.

A token's secret is ``rot_`` followed by 43 URL-safe characters (256 random bits). The server
hashes what a client presents with :func:`hash_token` and looks the hash up.
"""

from __future__ import annotations

import secrets
from hashlib import sha256

from sqlalchemy import select

from rollout.errors import NotFound
from rollout.store._db import StoreBase, new_id
from rollout.store.events import append_events
from rollout.store.models import ApiToken
from rollout.store.records import IssuedToken, NewEvent, TokenRecord

TOKEN_PREFIX = "rot_"


def hash_token(secret: str) -> str:
    """The stored form of a token secret: its SHA-256 as 64 hex digits."""
    return sha256(secret.encode("utf-8")).hexdigest()


def _record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=row.role,
        token_hash=row.token_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class TokensMixin(StoreBase):
    """Creating, finding, listing and revoking API tokens (each audited on the global chain)."""

    def create_token(self, name: str, role: str, *, actor: str = "rollout") -> IssuedToken:
        """A new token for ``role`` (the server decides what roles mean). The returned
        ``secret`` is the only copy: it cannot be read back later."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._now()
        row = ApiToken(
            id=new_id("tok_"),
            name=name,
            role=role,
            token_hash=hash_token(secret),
            created_at=now,
        )
        event = NewEvent(
            kind="token.created",
            message=f"{actor} created API token {name} ({role})",
            data={"token_id": row.id, "name": name, "role": role},
            actor=actor,
        )
        with self._write() as session:
            session.add(row)
            session.flush()
            append_events(session, None, [event], now)
            return IssuedToken(record=_record(row), secret=secret)

    def get_token_by_hash(self, token_hash: str, *, include_revoked: bool = False) -> TokenRecord:
        """The token with this hash; ``NotFound`` if there is none, or it was revoked (unless
        ``include_revoked``)."""
        query = select(ApiToken).where(ApiToken.token_hash == token_hash)
        with self._read() as session:
            row = session.scalars(query).one_or_none()
            if row is None or (row.revoked_at is not None and not include_revoked):
                raise NotFound("no such API token (or it was revoked)")
            return _record(row)

    def list_tokens(self, *, include_revoked: bool = True) -> list[TokenRecord]:
        """Tokens, oldest first."""
        query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        with self._read() as session:
            return [_record(row) for row in session.scalars(query)]

    def revoke_token(self, token_id: str, *, actor: str = "rollout") -> TokenRecord:
        """Revoke a token from now on; revoking it again keeps the first revocation time.
        ``NotFound`` for an unknown id."""
        now = self._now()
        with self._write() as session:
            row = session.get(ApiToken, token_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no API token {token_id!r}")
            if row.revoked_at is None:
                row.revoked_at = now
                event = NewEvent(
                    kind="token.revoked",
                    message=f"{actor} revoked API token {row.name}",
                    data={"token_id": row.id, "name": row.name},
                    actor=actor,
                )
                append_events(session, None, [event], now)
            return _record(row)
