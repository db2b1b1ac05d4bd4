"""The outbox envelope: upstream's shape, times as RFC 3339 UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from authara_core.platform.outbox import envelope, rfc3339


def test_times_are_utc_with_a_z() -> None:
    assert rfc3339(datetime(2026, 12, 3, 16, 0, tzinfo=UTC)) == "2026-12-03T16:00:00Z"
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 3, 17, 0, 0, 250000, tzinfo=paris)
    assert rfc3339(moment) == "2026-12-03T16:00:00.250000Z"


def test_the_envelope_holds_id_type_time_and_a_copy_of_the_data() -> None:
    data = {"user_id": "u-1"}
    built = envelope("e-1", "user.created", data, datetime(2026, 12, 3, tzinfo=UTC))

    assert built == {
        "id": "e-1",
        "type": "user.created",
        "created_at": "2026-12-03T00:00:00Z",
        "data": {"user_id": "u-1"},
    }
    assert built["data"] is not data
