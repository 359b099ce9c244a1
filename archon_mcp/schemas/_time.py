"""The one time format of every answer: ISO-8601 in UTC with a `Z`, e.g. `2026-01-31T09:00:00.123456Z`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_utc_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


UtcDatetime = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json-unless-none")]
