"""What every config section's validation shares: field paths, several problems at once, named lists,
and the one translation of pydantic's errors into messages (`problems_of`).

Problems are (path, message) pairs; a path is the field's location inside its
section, as a tuple (`("sli", "filter", 0, "value")`), written in messages as
`sli.filter[0].value`. Callers add where the section came from (the file, the
SLO's name):

    agentslo.yaml: slos[1] (checkout-availability).objective: must be below 100
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Protocol, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Tag
from pydantic_core import PydanticCustomError

from ground.errors import ConfigError

Loc = tuple[int | str, ...]


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


_Named = TypeVar("_Named", bound=_HasName)


def format_path(loc: Loc) -> str:
    """A field path as written in messages: sli.filter[0].value."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def join_path(label: str, loc: Loc, message: str) -> str:
    """`label` (where the section is), the path inside it and the message, as one problem line."""
    path = format_path(loc)
    if not path:
        return f"{label}: {message}"
    return f"{label}{path if path.startswith('[') else '.' + path}: {message}"


PROBLEMS = "spec_problems"


def problems(found: list[tuple[Loc, str]]) -> PydanticCustomError:
    """Several problems found by one model validator, each at its path inside the model.

    Raise it from a pydantic validator; the error's type is PROBLEMS and its
    context holds them as `problems`.
    """
    text = "; ".join(f"{format_path(loc)}: {message}" for loc, message in found)
    return PydanticCustomError(PROBLEMS, "{text}", {"text": text, "problems": tuple(found)})


def parse_named_list(items: object, *, where: str, noun: tuple[str, str],
                     validate: Callable[[object], _Named | list[tuple[Loc, str]]]) -> tuple[_Named, ...]:
    """Validate a YAML list of named specs (SLOs, spend budgets): each item with `validate`,
    which returns the spec or its problems; names must be unique. `noun` is (singular, plural).

    Raises ConfigError listing every problem, each prefixed `where[index] (name)`.
    """
    if not isinstance(items, list):
        raise ConfigError([f"{where}: must be a list of {noun[1]}, got {type(items).__name__}"])
    found: list[str] = []
    specs: list[_Named] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, Mapping) else None
        label = f"{where}[{index}]" + (f" ({name})" if isinstance(name, str) and name else "")
        result = validate(item)
        if isinstance(result, list):
            found.extend(join_path(label, loc, message) for loc, message in result)
            continue
        specs.append(result)
        if result.name in first_index:
            found.append(f"{label}.name: must be unique; the {noun[0]} at index {first_index[result.name]} has it too")
        first_index.setdefault(result.name, index)
    if found:
        raise ConfigError(found)
    return tuple(specs)


def problems_of(error: Mapping[str, Any], root: type[BaseModel]) -> list[tuple[Loc, str]]:
    """One pydantic validation error of `root` as (path as the file spells it, message): the one
    translation every config section uses.

    Pydantic names the member of a union in its error paths (`sli.latency.threshold`,
    `receivers[0].slack.url_env`, `levels[0].float`); the file has no such level, so it is dropped.
    Messages say what was expected (`must be a list`, `unknown field (expected one of: ...)`); a
    `problems` error (several problems found by one validator) is spread into each of them.
    """
    raw: Loc = tuple(error["loc"])
    loc, _ = _walk(raw, root)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == PROBLEMS:
        return [(loc + sub, message) for sub, message in ctx["problems"]]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        # The discriminator is a field ('kind') or a function named after it (kind()).
        field = ctx["discriminator"].strip("'").removesuffix("()")
        tags = ", ".join(_tags(_walk(raw, root)[1], field))
        if kind == "union_tag_not_found":
            if not isinstance(error.get("input"), Mapping):
                return [(loc, "must be a mapping")]
            return [(loc + (field,), f"missing (one of: {tags})")]
        return [(loc + (field,), f"must be one of: {tags}; got {ctx['tag']!r}")]
    if kind == "extra_forbidden":
        known = _known_fields(_walk(raw[:-1], root)[1])
        return [(loc, "unknown field" + (f" (expected one of: {', '.join(known)})" if known else ""))]
    if kind == "missing":
        return [(loc, "missing")]
    if kind == "literal_error":
        return [(loc, "must be " + ctx["expected"])]
    if kind == "value_error":
        return [(loc, str(ctx["error"]))]
    if kind in ("tuple_type", "list_type"):
        return [(loc, "must be a list")]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return [(loc, "must be a mapping")]
    message = str(error["msg"])
    return [(loc, (message[:1].lower() + message[1:]).replace("input should be", "must be"))]


def _walk(loc: Loc, root: Any) -> tuple[Loc, Any]:
    """A pydantic error path as the file spells it (union members' names dropped), and the type at its end."""
    kept: list[int | str] = []
    current: Any = root
    for part in loc:
        members = _named_members(current)
        if isinstance(part, str) and part in members:
            current = members[part]
            continue
        kept.append(part)
        current = _child(current, part)
    return tuple(kept), current


def _child(annotation: Any, part: int | str) -> Any:
    """The type at `part` inside `annotation`: a model's field, a list's or tuple's item, a mapping's value."""
    annotation = _unwrap(annotation)
    if isinstance(part, str) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part)
        return None if field is None else field.annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (tuple, list) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _named_members(annotation: Any) -> dict[str, Any]:
    """A union's members by the names pydantic gives them in error paths: a discriminated member's tag
    (`Tag("slack")`, or its discriminator field's literal value: the model field holding the union
    keeps the discriminator apart from its annotation), else the type's name (`float`)."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return {}
    found: dict[str, Any] = {}
    for member in typing.get_args(annotation):
        model = member
        if typing.get_origin(member) is Annotated:
            model, *metadata = typing.get_args(member)
            found.update({meta.tag: model for meta in metadata if isinstance(meta, Tag)})
        if isinstance(model, type) and issubclass(model, BaseModel):
            for field in model.model_fields.values():
                if typing.get_origin(field.annotation) is Literal:
                    found.update({str(value): model for value in typing.get_args(field.annotation)})
        found.setdefault(getattr(model, "__name__", str(model)), model)
    return found


def _tags(annotation: Any, field: str) -> list[str]:
    """A discriminated union's tags, in the order of its members: each member's `Tag`, else the
    literal value of its `field`."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    tags: list[str] = []
    for member in typing.get_args(annotation):
        model, metadata = member, ()
        if typing.get_origin(member) is Annotated:
            model, *metadata = typing.get_args(member)
        named = [meta.tag for meta in metadata if isinstance(meta, Tag)]
        if not named and isinstance(model, type) and issubclass(model, BaseModel) and field in model.model_fields:
            named = [str(value) for value in typing.get_args(model.model_fields[field].annotation)]
        tags.extend(named)
    return tags


def _unwrap(annotation: Any) -> Any:
    """`annotation` without Annotated and without None as an alternative (`X | None` is X)."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _known_fields(annotation: Any) -> list[str]:
    """The fields of the model `annotation` names, as the file spells them (`for`, not `for_`)."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [field.alias or name for name, field in annotation.model_fields.items()]
    return []


class Spec(BaseModel):
    """The base of every config section's model: unknown fields are errors, values are frozen, and
    NaN or infinity are no number a user means."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
