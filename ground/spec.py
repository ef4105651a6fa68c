"""What every config section's validation shares: field paths, several problems at once, named lists.

Problems are (path, message) pairs; a path is the field's location inside its
section, as a tuple (`("sli", "filter", 0, "value")`), written in messages as
`sli.filter[0].value`. Callers add where the section came from (the file, the
SLO's name):

    agentslo.yaml: slos[1] (checkout-availability).objective: must be below 100
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

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
