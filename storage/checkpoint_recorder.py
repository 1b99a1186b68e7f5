"""The signed checkpoints (``ChainCheckpoints`` in ``storage.interface``) written once over the
library's datastores, as ``storage.staff_recorder`` is: each backend gives its statements in its
own parameter style (``compose``) and creates the table (``storage.sqlite.chain_checkpoints``,
``storage.postgres.chain_checkpoints``). One checkpoint per position: of makers racing at one
chain head (``serve --workers N``), the first one's row stays and the others get it back.

May import: ``storage.interface`` and ``storage.chain_checkpoints``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.chain_checkpoints import CHECKPOINT_SQL, SignedCheckpoint
from storage.interface import ChainCheckpoints


def _of(row: Any) -> SignedCheckpoint:
    get = row.__getitem__
    return SignedCheckpoint(
        int(get("position")),
        str(get("chain_hash")),
        str(get("signed_at")),
        str(get("store_id")),
        str(get("key_id")),
        str(get("signature")),
    )


class SqlChainCheckpoints(ChainCheckpoints):
    """The signed checkpoints on one of the library's datastores (see ``ChainCheckpoints``)."""

    def __init__(self, datastore: Any, prefix: str, compose: Callable[[str], Any]) -> None:
        self.datastore = datastore
        self.sql = {k: compose(v.replace("{p}", prefix)) for k, v in CHECKPOINT_SQL.items()}

    def close(self) -> None:
        self.datastore.close()

    def _rows(self, key: str, params: dict[str, Any]) -> list[SignedCheckpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql[key], params)
            return [_of(r) for r in c.fetchall()]

    def add_checkpoint(self, checkpoint: SignedCheckpoint) -> SignedCheckpoint:
        params = {k: getattr(checkpoint, k) for k in checkpoint.__dataclass_fields__}
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["add"], params)
            c.execute(self.sql["at"], {"position": checkpoint.position})
            return _of(c.fetchone())

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        found = self._rows("latest", {})
        return found[0] if found else None

    def checkpoints(
        self, after: int = 0, until: int = 2**63 - 1, limit: int = 10_000
    ) -> list[SignedCheckpoint]:
        return self._rows("range", {"after": after, "until": until, "limit": limit})
