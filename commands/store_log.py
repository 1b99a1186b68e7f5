"""Recording on the store's own log (``lifecycle.store_log``): what an operator did to the log
as a whole (issue 13). One save per record, retried when another process recorded at once.

May import: ``eventsourcing``, ``lifecycle`` and ``commands.application``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from commands.application import CardLifecycle
from lifecycle.store_log import STORE_LOG_ID, StoreLog

ATTEMPTS = 5


def record_on_store_log(
    app: CardLifecycle, actor: str, at: datetime, record: Callable[[StoreLog], None]
) -> StoreLog:
    """Load (or open) the store log, let ``record`` trigger its event, save it."""
    for attempt in range(ATTEMPTS):
        log: StoreLog
        try:
            found: object = app.repository.get(STORE_LOG_ID)
            assert isinstance(found, StoreLog)
            log = found
        except AggregateNotFoundError:
            log = StoreLog.open(actor, at)
        record(log)
        try:
            app.save(log)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return log
    raise AssertionError("unreachable")
