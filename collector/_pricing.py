"""Model prices and the cost of one model call: the pure core of cost attribution.

Prices are policy, so they are data (``prices.yaml`` beside this module, plus user
overrides); this module validates them, matches a span's model name to an entry and
prices token counts. It never reads the clock or the environment: the span's date
comes in as ``at``.

    >>> table = PriceTable.default()
    >>> price = table.lookup("gpt-4o-mini-2024-07-18", at=date(2025, 1, 1))
    >>> cost_usd(price, input_tokens=1000, output_tokens=200, cache_read_tokens=0, cache_write_tokens=0)
    0.00027
"""

from __future__ import annotations

import bisect
import functools
import importlib.resources
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ground.errors import ConfigError
from ground.spec import format_path, problems_of

_TOKENS_PER_PRICE_UNIT = 1_000_000  # list prices are quoted per million tokens
_SHIPPED_FILE = "prices.yaml"
# Span attributes come from clients, so the set of model names is unbounded: bound the cache.
_MATCH_CACHE_SIZE = 4096

# Bedrock prefixes a model id with its vendor and, for cross-region inference
# profiles, a region ("us.anthropic.claude-...", "meta.llama3-..."): leading dotted
# words of letters only. Names whose dots are version numbers ("gpt-4.1") keep them.
_DOTTED_PREFIX = re.compile(r"^(?:[a-z]+(?:-[a-z]+)*\.)+")
# "3.5" and "3-5" are the same version: OpenRouter writes "claude-3.5-sonnet",
# Anthropic "claude-3-5-sonnet".
_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")
# A base name ends where a date, version or variant suffix starts:
# "-2024-07-18", "@20240620" (Vertex), ":0" (Bedrock), "_" (some gateways).
_SEPARATORS = frozenset("-@:_")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """List price of one model from `effective_from` on, in USD per million tokens."""

    model: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cache_read_usd_per_mtok: float
    cache_write_usd_per_mtok: float
    effective_from: date


def cost_usd(
    price: ModelPrice,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
) -> float:
    """Cost in USD of one call, with token counts as the OpenTelemetry GenAI conventions report them.

    Those conventions count cache reads and cache writes inside `input_tokens` and
    reasoning tokens inside `output_tokens`, so each part is priced once: the uncached
    remainder of the input at the input price, cached parts at their own prices.
    The remainder is clamped at 0 for instrumentations that report more cache tokens
    than input tokens (Anthropic's own API counts them apart, and some mappers copy that).
    """
    uncached_tokens = max(input_tokens - cache_read_tokens - cache_write_tokens, 0)
    return (
        uncached_tokens * price.input_usd_per_mtok
        + cache_read_tokens * price.cache_read_usd_per_mtok
        + cache_write_tokens * price.cache_write_usd_per_mtok
        + output_tokens * price.output_usd_per_mtok
    ) / _TOKENS_PER_PRICE_UNIT


def normalise_model_name(model: str) -> str:
    """The form in which model names are compared: lower case, no provider prefix, version dots as dashes.

    >>> normalise_model_name("us.anthropic.claude-3.5-sonnet-20240620-v1:0")
    'claude-3-5-sonnet-20240620-v1:0'
    """
    name = model.strip().lower().rsplit("/", 1)[-1]  # "openai/gpt-4o", "models/gemini-2.5-pro"
    name = _DOTTED_PREFIX.sub("", name, count=1)
    return _VERSION_DOT.sub("-", name)


class PriceTable:
    """Prices by model and effective date; `lookup` finds the price of a span's model on its date.

    A name matches the longest entry that it starts with, up to a separator, so
    "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini" and never as "gpt-4o".
    A variant priced unlike its base therefore needs its own entry.
    """

    def __init__(self, entries: Iterable[ModelPrice]) -> None:
        by_key: dict[str, dict[date, ModelPrice]] = {}
        duplicates: list[str] = []
        for entry in entries:
            dated = by_key.setdefault(normalise_model_name(entry.model), {})
            if entry.effective_from in dated:
                duplicates.append(
                    f"{entry.model}: two prices effective from {entry.effective_from.isoformat()}"
                )
            dated[entry.effective_from] = entry
        if duplicates:
            raise ConfigError(duplicates)
        # Per name, dates ascending and the prices in the same order, for bisect.
        self._by_key = {
            key: (tuple(sorted(dated)), tuple(dated[day] for day in sorted(dated)))
            for key, dated in by_key.items()
        }
        # Bound per instance (not a module-level cache) so a table built from other
        # entries never sees stale matches.
        self._match = functools.lru_cache(maxsize=_MATCH_CACHE_SIZE)(self._match_uncached)

    @classmethod
    def default(cls) -> PriceTable:
        """The shipped price table (`collector/prices.yaml`)."""
        package = __name__.rpartition(".")[0]
        text = importlib.resources.files(package).joinpath(_SHIPPED_FILE).read_text(encoding="utf-8")
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([f"{_SHIPPED_FILE}: invalid YAML: {exc}"]) from None
        if not isinstance(document, dict) or document.get("version") != 1:
            raise ConfigError([f"{_SHIPPED_FILE}: must be a mapping with `version: 1` and `models`"])
        entries = parse_price_entries(document.get("models"), where=f"{_SHIPPED_FILE}: models")
        try:
            return cls(entries)
        except ConfigError as exc:
            raise ConfigError([f"{_SHIPPED_FILE}: models: {p}" for p in exc.problems]) from None

    def with_overrides(self, overrides: Iterable[ModelPrice]) -> PriceTable:
        """A new table: an override with the same model and `effective_from` replaces that entry, others add.

        To replace a price from now on, give the override today's date (or any date
        after the entry it supersedes): the latest entry effective on a span's date wins.
        """
        layered = PriceTable(overrides)  # rejects duplicates among the overrides themselves
        merged = {(normalise_model_name(e.model), e.effective_from): e for e in self.entries}
        merged.update({(normalise_model_name(e.model), e.effective_from): e for e in layered.entries})
        return PriceTable(merged.values())

    @property
    def entries(self) -> tuple[ModelPrice, ...]:
        """Every entry, by provider, model and date."""
        every = (price for _, prices in self._by_key.values() for price in prices)
        return tuple(sorted(every, key=lambda p: (p.provider, p.model, p.effective_from)))

    def lookup(self, model: str, *, at: date) -> ModelPrice | None:
        """The price of `model` in effect on day `at`, or None for an unknown model or a day before its first price."""
        key = self._match(model)
        if key is None:
            return None
        days, prices = self._by_key[key]
        index = bisect.bisect_right(days, at)
        return prices[index - 1] if index else None

    def _match_uncached(self, model: str) -> str | None:
        name = normalise_model_name(model)
        cuts = [i for i, char in enumerate(name) if char in _SEPARATORS]
        for end in (len(name), *reversed(cuts)):  # longest candidate first
            if name[:end] in self._by_key:
                return name[:end]
        return None


def parse_price_entries(items: object, *, where: str) -> tuple[ModelPrice, ...]:
    """Validate a list of price entries as read from YAML (or JSON) into `ModelPrice`s.

    `where` prefixes every problem, e.g. "agentslo.yaml: pricing.models"; all problems
    are raised together in one ConfigError. Missing cache prices take the input price:
    providers without a separate cache price bill cache tokens as plain input.
    """
    if not isinstance(items, list):
        raise ConfigError([f"{where}: must be a list of price entries, got {type(items).__name__}"])
    problems: list[str] = []
    entries: list[ModelPrice] = []
    for index, item in enumerate(items):
        entry = _parse_entry(item, where=f"{where}[{index}]", problems=problems)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise ConfigError(problems)
    return tuple(entries)


def _parse_entry(item: object, *, where: str, problems: list[str]) -> ModelPrice | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where}: must be a mapping with {', '.join(_REQUIRED)}, got {type(item).__name__}")
        return None
    model = item.get("model")
    named = f" (model {model!r})" if isinstance(model, str) and model.strip() else ""
    try:
        spec = PriceEntrySpec.model_validate(item)
    except ValidationError as exc:
        problems.extend(f"{where}{_dotted(loc)}: {message}{named}"
                        for error in exc.errors() for loc, message in problems_of(error, PriceEntrySpec))
        return None
    input_price = spec.input_usd_per_mtok
    return ModelPrice(
        model=spec.model,
        provider=spec.provider,
        input_usd_per_mtok=input_price,
        output_usd_per_mtok=spec.output_usd_per_mtok,
        cache_read_usd_per_mtok=input_price if spec.cache_read_usd_per_mtok is None else spec.cache_read_usd_per_mtok,
        cache_write_usd_per_mtok=(input_price if spec.cache_write_usd_per_mtok is None
                                  else spec.cache_write_usd_per_mtok),
        effective_from=spec.effective_from,
    )


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = format_path(loc)
    return "" if not path else path if path.startswith("[") else "." + path


def _name(value: Any) -> str:
    if not (isinstance(value, str) and value.strip()):
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value.strip()


def _date(value: Any) -> date:
    parsed = _as_date(value)
    if parsed is None:
        raise ValueError(f"must be a date (YYYY-MM-DD), got {value!r}")
    return parsed


def _price(value: Any) -> float:
    if not _is_price(value):
        raise ValueError(f"must be a number >= 0 (USD per million tokens), got {value!r}")
    return float(value)


class PriceEntrySpec(BaseModel):
    """One entry of a price table as written: the shipped prices.yaml and the config's pricing.models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, BeforeValidator(_name)]
    provider: Annotated[str, BeforeValidator(_name)]
    effective_from: Annotated[date, BeforeValidator(_date)]
    input_usd_per_mtok: Annotated[float, BeforeValidator(_price)]
    output_usd_per_mtok: Annotated[float, BeforeValidator(_price)]
    # Providers without a separate cache price bill cache tokens as plain input.
    cache_read_usd_per_mtok: Annotated[float | None, BeforeValidator(_price)] = None
    cache_write_usd_per_mtok: Annotated[float | None, BeforeValidator(_price)] = None


_REQUIRED = tuple(name for name, field in PriceEntrySpec.model_fields.items() if field.is_required())


def _as_date(value: Any) -> date | None:
    # YAML gives a date for 2024-05-13; JSON overrides give a string. A timestamp is
    # refused: prices change per day.
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _is_price(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)  # `true` in YAML is not a price
        and math.isfinite(value)
        and value >= 0
    )
