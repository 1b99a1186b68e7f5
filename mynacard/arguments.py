"""Command-line options made from the command models, so the CLI never restates a field.

- ``card`` is positional; booleans are ``--x/--no-x``; lists repeat (``--identity-document``);
- a nested model (``filed_by``) becomes ``--filed-by ROLE`` plus ``--filed-by-<flag>`` (only the
  flags when the role cannot be chosen: ``--legal-representative-<flag>``);
- closed choices are listed in the help; values are checked by the model, so a refusal names
  its field and rule exactly as it would over HTTP.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from commands.fields import Choices

COMMON_FIELDS = {"command_id", "actor", "effective_at"}


@dataclass(frozen=True, slots=True)
class Option:
    dest: str
    path: tuple[str, ...]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of ``X | None``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _choices(info: FieldInfo, annotation: Any) -> tuple[str, ...] | None:
    for meta in info.metadata:
        if isinstance(meta, Choices):
            return meta.values
    inner, _ = _unwrap(annotation)
    if typing.get_origin(inner) is typing.Annotated:
        for meta in typing.get_args(inner)[1:]:
            if isinstance(meta, Choices):
                return meta.values
        inner = typing.get_args(inner)[0]
    if typing.get_origin(inner) is Literal:
        return tuple(str(a) for a in typing.get_args(inner))
    return None


def shown_default(info: FieldInfo) -> str | None:
    """The default worth printing in the help, or None: a required field, a default made by a
    factory (``PydanticUndefined`` as ``info.default``), and unset/empty/false defaults show none."""
    if info.is_required() or info.default_factory is not None:
        return None
    default = info.default
    if default is PydanticUndefined or default is None or default is False or callable(default):
        return None
    if isinstance(default, list | tuple | dict | set | frozenset) and not default:
        return None
    return str(default)


def _help(info: FieldInfo, choices: tuple[str, ...] | None) -> str:
    text = info.description or ""
    if choices:
        text = f"{text} [{', '.join(choices)}]".strip()
    default = shown_default(info)
    if default is not None:
        text = f"{text} (default: {default})".strip()
    return text or " "


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel]) -> list[Option]:
    """Add one option per field of ``model`` (except the common ones); return how to read them."""
    options: list[Option] = []
    for name, info in model.model_fields.items():
        if name in COMMON_FIELDS:
            continue
        annotation = info.annotation
        inner, _ = _unwrap(annotation)
        dest = f"f_{name}"
        if name == "card":
            parser.add_argument(dest, metavar="CARD", help="application id (23 digits) or card id")
            options.append(Option(dest, (name,)))
            continue
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            options.extend(_add_nested(parser, name, inner))
            continue
        choices = _choices(info, annotation)
        help_text = _help(info, choices)
        if inner is bool:
            parser.add_argument(
                _flag(name), dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif typing.get_origin(inner) is list:
            item = typing.get_args(inner)[0]
            item_choices = _choices(FieldInfo(annotation=item), item)
            singular = name[:-1] if name.endswith("s") else name
            parser.add_argument(
                _flag(singular),
                dest=dest,
                action="append",
                default=None,
                metavar="VALUE",
                help=_help(info, item_choices) + " (repeat)",
            )
        else:
            parser.add_argument(_flag(name), dest=dest, default=None, metavar=name.upper(), help=help_text)
        options.append(Option(dest, (name,)))
    return options


def _add_nested(parser: argparse.ArgumentParser, name: str, model: type[BaseModel]) -> list[Option]:
    """``--NAME ROLE`` and ``--NAME-<flag>``; a role with one possible value is no option."""
    options: list[Option] = []
    role = model.model_fields.get("role")
    fixed_role = role is not None and len(_choices(role, role.annotation) or ()) == 1
    for sub, info in model.model_fields.items():
        dest = f"f_{name}__{sub}"
        choices = _choices(info, info.annotation)
        if sub == "role":
            if fixed_role:
                continue
            parser.add_argument(
                _flag(name), dest=dest, default=None, metavar="ROLE", help=_help(info, choices)
            )
        else:
            parser.add_argument(
                _flag(f"{name}_{sub}"),
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_help(info, choices),
            )
        options.append(Option(dest, (name, sub)))
    return options


def collect(namespace: argparse.Namespace, options: list[Option]) -> dict[str, Any]:
    """The given options as a (nested) payload for the model."""
    payload: dict[str, Any] = {}
    for option in options:
        value = getattr(namespace, option.dest, None)
        if value is None:
            continue
        target = payload
        for key in option.path[:-1]:
            target = target.setdefault(key, {})
        target[option.path[-1]] = value
    return payload
