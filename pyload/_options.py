"""Options declared once: a dataclass field carries its command-line flag, help and check.

A frozen config dataclass declares each option as ``name: type = option(default, ...)``. From
those fields alone come the argparse arguments (``add_arguments``), the keyword arguments of the
API (``keyword_signature``), the JSON block (``to_json`` / ``from_json``) and the validation
(``check_options``). Adding an option means adding one field and the code that uses it.

Generic on purpose: pyload's ``Config`` and django_target's ``ServerConfig`` both use it. No I/O.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Option",
    "add_arguments",
    "check_count",
    "check_number",
    "check_options",
    "check_seconds",
    "from_json",
    "keyword_signature",
    "option",
    "options_of",
    "to_json",
    "values_from_args",
]

_METADATA_KEY = "option"


@dataclass(frozen=True)
class Option:
    """What the command line and the checks need to know about one config field.

    ``flags``: the command-line spellings, wrk's short one first; () keeps the option off the
    command line (API and JSON only); ``positional`` makes it a positional argument.
    ``parse``: command-line text to value (wrk's number and time grammar); None keeps the text.
    ``check``: takes the value, returns it normalised, raises ValueError with a one-line
    message; it runs on every construction, whatever the value came from.
    ``help`` may name ``{default}``, filled with ``show(default)``.
    """

    help: str
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    check: Callable[[Any], Any] | None = None
    action: str | None = None  # argparse's "store_true", "store_false" or "append"
    choices: tuple[str, ...] | None = None
    positional: bool = False
    show: Callable[[Any], str] = str
    to_json: Callable[[Any], Any] | None = None  # the value in JSON, if not itself


def option(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field that is an option (see ``Option`` for ``spec``)."""
    return field(default=default, metadata={_METADATA_KEY: Option(help=help, **spec)})


def options_of(cls: type) -> Iterator[tuple[dataclasses.Field[Any], Option]]:
    """The option fields of a dataclass, in declaration order."""
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_METADATA_KEY)
        if spec is not None:
            yield f, spec


def _default(f: dataclasses.Field[Any]) -> Any:
    return None if f.default is dataclasses.MISSING else f.default


def _argparse_type(spec: Option) -> Callable[[str], Any] | None:
    parse = spec.parse
    if parse is None or isinstance(parse, type):
        return parse  # int, float, str: argparse's own message ("invalid int value: 'x'")

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one argparse argument per option field of ``cls`` (dest = the field's name).

    A flagged option without a default is required on the command line.
    """
    for f, spec in options_of(cls):
        if not spec.flags and not spec.positional:
            continue
        default = _default(f)
        kwargs: dict[str, Any] = {"help": spec.help.format(default=spec.show(default))}
        if spec.positional:  # one optional argument; "append": all the remaining ones
            nargs = "*" if spec.action == "append" else "?"
            parser.add_argument(f.name, nargs=nargs, default=default, **kwargs)
            continue
        if spec.action in ("store_true", "store_false"):
            kwargs["action"] = spec.action
        else:
            kwargs["type"] = _argparse_type(spec)
            kwargs["metavar"] = spec.metavar
            if spec.choices is not None:
                kwargs["choices"] = spec.choices
            if spec.action == "append":
                kwargs["action"] = "append"
                default = list(default or ())
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs["required"] = True
        parser.add_argument(*spec.flags, dest=f.name, default=default, **kwargs)


def values_from_args(ns: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The option values argparse parsed into ``ns``, by field name."""
    return {f.name: getattr(ns, f.name) for f, spec in options_of(cls) if hasattr(ns, f.name)}


def keyword_signature(cls: type, first: str) -> inspect.Signature:
    """The API's signature: ``first`` positional, every other option a keyword with its default."""
    params = []
    for f, _ in options_of(cls):
        if f.name == first:
            params.append(
                inspect.Parameter(
                    f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=f.type
                )
            )
        else:
            params.append(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=_default(f), annotation=f.type
                )
            )
    return inspect.Signature(params)


def check_options(instance: Any, error: type[Exception], skip: Sequence[str] = ()) -> None:
    """Run every option's check on a frozen dataclass, storing the normalised values.

    A check's ValueError becomes ``error(message)``. ``skip`` names options whose check the
    caller runs itself (to keep an order the user knows, e.g. wrk's).
    """
    for f, spec in options_of(type(instance)):
        if spec.check is None or f.name in skip:
            continue
        try:
            value = spec.check(getattr(instance, f.name))
        except ValueError as exc:
            raise error(str(exc)) from None
        object.__setattr__(instance, f.name, value)


def to_json(instance: Any) -> dict[str, Any]:
    """Every option of ``instance`` as a JSON-ready mapping, by field name."""
    out = {}
    for f, spec in options_of(type(instance)):
        value = getattr(instance, f.name)
        out[f.name] = spec.to_json(value) if spec.to_json is not None else value
    return out


def from_json(cls: type, data: Mapping[str, Any], error: type[Exception]) -> Any:
    """Build ``cls`` from a ``to_json`` mapping; unknown keys are an ``error``."""
    known = {f.name for f, _ in options_of(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown option(s) in config: {', '.join(unknown)}")
    return cls(**data)


# -- checks shared by the configs -------------------------------------------------------------


def check_count(name: str, minimum: int = 1, optional: bool = False) -> Callable[[Any], Any]:
    """A check: an integer (not a bool) >= ``minimum``; None allowed if ``optional``."""

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
        return value

    return check


def check_number(name: str, allow_zero: bool = False, unit: str = "") -> Callable[[Any], Any]:
    """A check: a finite number (not a bool), > 0 (or >= 0 with ``allow_zero``); ``unit`` is
    named in the message (``duration must be > 0 seconds, not 0``)."""
    bound = (">= 0" if allow_zero else "> 0") + (f" {unit}" if unit else "")

    def check(value: Any) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name} must be {bound}, not {value!r}")
        return value

    return check


def check_seconds(name: str, allow_zero: bool = False) -> Callable[[Any], Any]:
    """A check: a finite number of seconds, > 0 (or >= 0 with ``allow_zero``)."""
    return check_number(name, allow_zero, unit="seconds")
