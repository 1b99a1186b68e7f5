"""Field types shared by the command models: dates typed the Japanese way, choices that name
their rule, and the My Number, which is validated (R01) and never echoed back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BeforeValidator, GetCoreSchemaHandler, SecretStr
from pydantic_core import PydanticCustomError, core_schema

from commands.dates import DateFormatError, parse_date, parse_datetime
from lifecycle.errors import RuleViolation
from lifecycle.identifiers import parse_application_id, validate_my_number


def _to_date(value: Any) -> Any:
    if isinstance(value, datetime):
        raise PydanticCustomError("date_type", "give a date without a time")
    if isinstance(value, str):
        try:
            return parse_date(value)
        except DateFormatError as e:
            raise PydanticCustomError("date_format", str(e)) from None
    return value


def _to_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except DateFormatError as e:
            raise PydanticCustomError("datetime_format", str(e)) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return parse_datetime(value.isoformat())
    return value


FIRST_SUPPORTED_DATE = date(1868, 1, 25)  # 明治元年 on the Gregorian calendar
LAST_SUPPORTED_DATE = date(2199, 12, 31)
"""Dates outside these are refused at the boundary: the domain adds decades to dates (validity,
birthdays, deadlines), which must stay inside Python's years 1-9999."""


def _in_supported_range(value: Any) -> Any:
    day = value.date() if isinstance(value, datetime) else value
    if isinstance(day, date) and not FIRST_SUPPORTED_DATE <= day <= LAST_SUPPORTED_DATE:
        raise PydanticCustomError(
            "date_range",
            "{day} is outside the dates this service records ({first} to {last})",
            {
                "day": day.isoformat(),
                "first": FIRST_SUPPORTED_DATE.isoformat(),
                "last": LAST_SUPPORTED_DATE.isoformat(),
            },
        )
    return value


InputDate = Annotated[date, BeforeValidator(_to_date), AfterValidator(_in_supported_range)]
"""A date: ISO, 2025/4/1 or 和暦 (令和7年4月1日, R7.4.1)."""
InputDateTime = Annotated[datetime, BeforeValidator(_to_datetime), AfterValidator(_in_supported_range)]
"""An instant: ISO with or without offset (JST when absent), or a date meaning 00:00 JST."""


@dataclass(frozen=True, slots=True)
class Choices:
    """A closed set of values; the refusal names the rule that defines the set."""

    values: tuple[str, ...]
    rule: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def check(self, value: Any) -> Any:
        if value is not None and value not in self.values:
            raise PydanticCustomError(
                f"rule_{self.rule}" if self.rule else "choice",
                "'{value}' is not one of: {choices}",
                {"value": value, "choices": ", ".join(self.values)},
            )
        return value


def _rule_error(e: RuleViolation) -> PydanticCustomError:
    return PydanticCustomError(f"rule_{e.rule}", e.message)


def _my_number(value: Any) -> Any:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise PydanticCustomError("rule_R01", "a My Number is given as text of 12 digits")
    try:
        return SecretStr(validate_my_number(raw))
    except RuleViolation as e:
        raise _rule_error(e) from None


def _application_id(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("rule_R02", "an application id is given as text of 23 digits")
    try:
        return parse_application_id(value)
    except RuleViolation as e:
        raise _rule_error(e) from None


def _card_ref(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if not isinstance(value, str):
        raise PydanticCustomError("card_ref", "a card is named by its application id or card id")
    try:
        return str(UUID(value.strip()))
    except ValueError:
        pass
    try:
        return parse_application_id(value)
    except RuleViolation:
        raise PydanticCustomError(
            "card_ref", "name the card by its 23-digit application id or its card id (UUID)"
        ) from None


MyNumber = Annotated[SecretStr, BeforeValidator(_my_number)]
"""個人番号 (R01): validated, kept secret in reprs, never repeated in an error."""
ApplicationId = Annotated[str, BeforeValidator(_application_id)]
"""申請書ID (R02): 23 digits; spaces between groups are removed."""
CardRef = Annotated[str, BeforeValidator(_card_ref)]
"""A card: its application id (23 digits) or its card id (UUID)."""
