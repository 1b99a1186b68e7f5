"""The renewal-notice list (``expiring``, R44) says which notices were mailed or came back, and
who may get none because they moved in shortly before the expiry (seed 003 Q10). On the run's
backend."""

from __future__ import annotations

from pathlib import Path

from commands import models as m
from commands import pickup_models as pm
from commands.application import CardLifecycle
from mynacard.bootstrap import open_read_side, upstream_of
from tests.helpers.backend import settings as settings_for
from tests.helpers.support import Clock, Story, all_to_active, d, my_number


def test_R44_expiring_lists_notices_sent_undelivered_and_who_may_get_none(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    stayed, moved, notified = (Story(app, clock, my_number_=my_number(4_400_100 + i)) for i in range(3))
    all_to_active([stayed, moved, notified])  # each card expires on 2029-10-10 (R19)
    moved.run(m.RecordMoveOut, "2029-05-01T09:00", planned_move_out_on="2029-05-10", overseas=False)
    moved.run(m.FileMoveIn, "2029-05-20T09:00", planned_move_out_on="2029-05-10", moved_in_on="2029-05-15")
    moved.run(m.ChangeCardInformation, "2029-05-21T09:00", facts=["address"], pin_confirmed=True)
    notified.run(pm.RecordExpiryNoticeSent, "2029-07-05T09:00")
    notified.run(pm.RecordExpiryNoticeUndelivered, "2029-07-20T09:00")

    read = open_read_side(settings_for(tmp_path), upstream_of(app))
    try:
        read.catch_up()
        listing = {c["application_id"]: c for c in read.expiring(d("2029-10-01"), d("2029-10-31"))["cards"]}
    finally:
        read.close()
    flags = {
        s.application_id: (
            listing[s.application_id]["notice_sent"],
            listing[s.application_id]["notice_undelivered"],
            listing[s.application_id]["notice_may_not_arrive"],
        )
        for s in (stayed, moved, notified)
    }
    assert flags == {
        stayed.application_id: (False, False, False),
        moved.application_id: (False, False, True),
        notified.application_id: (True, True, False),
    }
