"""Specification of the price table: model-name matching, effective dates, overrides, cost."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

import pytest

from collector._pricing import ModelPrice, PriceTable, cost_usd, normalise_model_name, parse_price_entries
from ground.errors import ConfigError

SHIPPED = PriceTable.default()
SOME_DAY = date(2025, 12, 1)  # every shipped model is priced on this day

# A Sonnet-shaped price: cache reads 0.1x and cache writes 1.25x the input price.
BASELINE = ModelPrice(
    model="m",
    provider="p",
    input_usd_per_mtok=3.00,
    output_usd_per_mtok=15.00,
    cache_read_usd_per_mtok=0.30,
    cache_write_usd_per_mtok=3.75,
    effective_from=date(2024, 1, 1),
)


# ----------------------------------------------------------------------------- cost


@pytest.mark.parametrize(
    ("price", "tokens", "expected_usd"),
    [
        pytest.param(
            BASELINE,
            dict(input_tokens=1_000, output_tokens=200, cache_read_tokens=0, cache_write_tokens=0),
            # 1000 * 3.00 + 200 * 15.00 = 3000 + 3000 = 6000 -> / 1e6
            0.006,
            id="without cache tokens, input and output are priced at their own rates",
        ),
        pytest.param(
            BASELINE,
            dict(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=6_000, cache_write_tokens=2_000),
            # uncached (10000 - 6000 - 2000) * 3.00 = 6000; read 6000 * 0.30 = 1800;
            # write 2000 * 3.75 = 7500; output 1000 * 15.00 = 15000; total 30300 -> / 1e6
            0.0303,
            id="cache reads and writes inside the input are priced once each, at their own rates",
        ),
        pytest.param(
            BASELINE,
            dict(input_tokens=100, output_tokens=0, cache_read_tokens=400, cache_write_tokens=0),
            # uncached max(100 - 400, 0) = 0; read 400 * 0.30 = 120 -> / 1e6
            0.00012,
            id="more cache tokens than input tokens leaves no negative uncached part",
        ),
        pytest.param(
            dataclasses.replace(BASELINE, input_usd_per_mtok=2.00, output_usd_per_mtok=8.00),
            dict(input_tokens=2_000, output_tokens=3_000, cache_read_tokens=0, cache_write_tokens=0),
            # output already includes its 2500 reasoning tokens: 2000 * 2 + 3000 * 8 = 28000 -> / 1e6
            0.028,
            id="reasoning tokens are priced once, as part of the output",
        ),
        pytest.param(
            SHIPPED.lookup("mistral-large-latest", at=SOME_DAY),
            dict(input_tokens=3_000, output_tokens=100, cache_read_tokens=1_000, cache_write_tokens=0),
            # Mistral lists no cache price, so cache reads cost input:
            # 2000 * 2.00 + 1000 * 2.00 + 100 * 6.00 = 4000 + 2000 + 600 = 6600 -> / 1e6
            0.0066,
            id="a model without cache prices bills cache tokens as plain input",
        ),
        pytest.param(
            SHIPPED.lookup("gpt-4.1-2025-04-14", at=SOME_DAY),
            dict(input_tokens=5_000, output_tokens=500, cache_read_tokens=4_000, cache_write_tokens=0),
            # 1000 * 2.00 + 4000 * 0.50 + 500 * 8.00 = 2000 + 2000 + 4000 = 8000 -> / 1e6
            0.008,
            id="an OpenAI cache read costs a quarter of gpt-4.1 input",
        ),
        pytest.param(
            SHIPPED.lookup("claude-sonnet-4-5-20250929", at=SOME_DAY),
            dict(input_tokens=50_000, output_tokens=2_000, cache_read_tokens=40_000, cache_write_tokens=8_000),
            # (50000 - 40000 - 8000) * 3.00 = 6000; 40000 * 0.30 = 12000;
            # 8000 * 3.75 = 30000; 2000 * 15.00 = 30000; total 78000 -> / 1e6
            0.078,
            id="a Claude call with a warm cache and a new cache write",
        ),
    ],
)
def test_cost_usd(price: ModelPrice | None, tokens: dict[str, int], expected_usd: float) -> None:
    assert price is not None
    assert cost_usd(price, **tokens) == pytest.approx(expected_usd, rel=1e-12)


# ----------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("name", "expected_model"),
    [
        pytest.param("gpt-4o-mini-2024-07-18", "gpt-4o-mini", id="a dated OpenAI name matches its base"),
        pytest.param("gpt-4o-mini", "gpt-4o-mini", id="gpt-4o-mini is not priced as gpt-4o"),
        pytest.param("gpt-4o-2024-11-20", "gpt-4o", id="a dated gpt-4o matches gpt-4o"),
        pytest.param("gpt-4o-2024-05-13", "gpt-4o-2024-05-13", id="a snapshot with its own entry matches that entry"),
        pytest.param("o1-mini", "o1-mini", id="o1-mini is not priced as o1"),
        pytest.param("o1-mini-2024-09-12", "o1-mini", id="a dated o1-mini matches o1-mini"),
        pytest.param("o1-2024-12-17", "o1", id="a dated o1 matches o1"),
        pytest.param("o3-pro-2025-06-10", "o3-pro", id="o3-pro is not priced as o3"),
        pytest.param("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", id="a dated gpt-4.1-mini matches its base"),
        pytest.param("gpt-5-nano-2025-08-07", "gpt-5-nano", id="a dated gpt-5-nano matches its base"),
        pytest.param("gpt-5.1-codex", "gpt-5.1", id="a variant without an entry takes its base's price"),
        pytest.param("gpt-5.1-codex-mini", "gpt-5.1-codex-mini", id="a variant with its own entry takes it"),
        pytest.param("openai/gpt-4o", "gpt-4o", id="an OpenRouter provider prefix is ignored"),
        pytest.param("GPT-4o-Mini", "gpt-4o-mini", id="matching ignores case"),
        pytest.param("  OpenAI/GPT-4O ", "gpt-4o", id="matching ignores surrounding blanks"),
        pytest.param("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", id="a dated Claude name matches its base"),
        pytest.param("claude-sonnet-4-20250514", "claude-sonnet-4", id="Sonnet 4 is not priced as Sonnet 4.5"),
        pytest.param("claude-opus-4-1-20250805", "claude-opus-4-1", id="Opus 4.1 is not priced as Opus 4"),
        pytest.param("claude-3-opus-20240229", "claude-3-opus", id="an old-style Claude name matches its base"),
        pytest.param("claude-3-5-haiku-latest", "claude-3-5-haiku", id="a -latest alias matches its base"),
        pytest.param("claude-3-5-sonnet@20240620", "claude-3-5-sonnet", id="a Vertex @version matches its base"),
        pytest.param("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet", id="a Vertex v2 name matches its base"),
        pytest.param("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet", id="OpenRouter's dotted version matches"),
        pytest.param("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5", id="OpenRouter's Sonnet 4.5 matches"),
        pytest.param(
            "anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet", id="a Bedrock model id matches"
        ),
        pytest.param(
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4",
            id="a Bedrock cross-region inference profile matches",
        ),
        pytest.param(
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5",
            id="a Bedrock global inference profile matches",
        ),
        pytest.param("models/gemini-2.5-pro", "gemini-2.5-pro", id="a Gemini API resource name matches"),
        pytest.param("gemini-2.0-flash-001", "gemini-2.0-flash", id="a numbered Gemini version matches its base"),
        pytest.param("gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite", id="flash-lite is not priced as flash"),
        pytest.param("google/gemini-2.5-pro-preview-06-05", "gemini-2.5-pro", id="a Gemini preview matches its base"),
        pytest.param(
            "projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-flash",
            "gemini-2.5-flash",
            id="a Vertex AI resource path matches",
        ),
        pytest.param("gemini-3-pro-preview", "gemini-3-pro", id="gemini-3-pro-preview matches gemini-3-pro"),
        pytest.param("meta.llama3-1-70b-instruct-v1:0", "llama3-1-70b-instruct", id="a Bedrock Llama id matches"),
        pytest.param(
            "us.meta.llama3-3-70b-instruct-v1:0", "llama3-3-70b-instruct", id="a Bedrock Llama profile matches"
        ),
        pytest.param("groq/llama-3.3-70b-versatile", "llama-3.3-70b-versatile", id="a Groq Llama name matches"),
        pytest.param(
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "llama-3.3-70b-instruct-turbo",
            id="a Together Llama name matches",
        ),
        pytest.param(
            "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
            "llama-4-maverick-17b-128e-instruct-fp8",
            id="Together's FP8 Maverick is not priced as Groq's Maverick",
        ),
        pytest.param("mistral-large-latest", "mistral-large", id="a Mistral -latest alias matches its base"),
        pytest.param("mistral/codestral-2501", "codestral", id="a dated Mistral name matches its base"),
        pytest.param(
            "mistral.mistral-large-2402-v1:0", "mistral-large-2402", id="Mistral Large 1 on Bedrock has its own price"
        ),
        pytest.param("deepseek-chat", "deepseek-chat", id="deepseek-chat matches"),
        pytest.param("deepseek/deepseek-reasoner", "deepseek-reasoner", id="a prefixed deepseek-reasoner matches"),
        pytest.param("gpt-4", None, id="a model without an entry is unknown"),
        pytest.param("my-company-finetune", None, id="an unknown name is unknown"),
        pytest.param("", None, id="an empty name is unknown"),
        pytest.param("o10", None, id="a name that only starts like a known one is unknown"),
        pytest.param("azure-gpt-4o", None, id="a name that merely contains a known one is unknown"),
        pytest.param(
            "ft:gpt-4o-mini-2024-07-18:acme::abc123",
            None,
            id="a fine-tuned model is unknown, not priced as its base",
        ),
    ],
)
def test_lookup_matches_model_names(name: str, expected_model: str | None) -> None:
    price = SHIPPED.lookup(name, at=SOME_DAY)
    assert (price.model if price else None) == expected_model


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        pytest.param("us.anthropic.claude-3.5-sonnet-v1:0", "claude-3-5-sonnet-v1:0", id="region and vendor go"),
        pytest.param("gpt-4.1", "gpt-4-1", id="a version dot becomes a dash"),
        pytest.param("models/Gemini-2.5-Pro", "gemini-2-5-pro", id="path and case go"),
        pytest.param("llama3.1:8b", "llama3-1:8b", id="a dotted name that is not a prefix stays"),
    ],
)
def test_normalise_model_name(name: str, normalised: str) -> None:
    assert normalise_model_name(name) == normalised


def test_every_shipped_entry_is_found_under_its_own_name() -> None:
    # No entry is shadowed by another, and no entry is lost to normalisation.
    for entry in SHIPPED.entries:
        assert SHIPPED.lookup(entry.model, at=entry.effective_from) == entry


def test_shipped_prices_are_plausible() -> None:
    providers = {entry.provider for entry in SHIPPED.entries}
    assert {"openai", "anthropic", "gcp.gemini", "mistral_ai", "deepseek", "groq", "aws.bedrock"} <= providers
    for entry in SHIPPED.entries:
        assert entry.cache_read_usd_per_mtok <= entry.input_usd_per_mtok, entry.model


# ----------------------------------------------------------------------------- effective dates


def _dated_table() -> PriceTable:
    return PriceTable(
        [
            dataclasses.replace(BASELINE, effective_from=date(2024, 1, 1)),
            dataclasses.replace(BASELINE, effective_from=date(2024, 6, 1), input_usd_per_mtok=1.50),
        ]
    )


@pytest.mark.parametrize(
    ("at", "expected_input_usd_per_mtok"),
    [
        pytest.param(date(2023, 12, 31), None, id="before the first price the model is unpriced"),
        pytest.param(date(2024, 1, 1), 3.00, id="a price applies from its effective day"),
        pytest.param(date(2024, 5, 31), 3.00, id="the old price applies up to the day before the change"),
        pytest.param(date(2024, 6, 1), 1.50, id="the new price applies from the day of the change"),
        pytest.param(date(2030, 1, 1), 1.50, id="the latest price applies from then on"),
    ],
)
def test_lookup_takes_the_latest_price_effective_on_the_day(
    at: date, expected_input_usd_per_mtok: float | None
) -> None:
    price = _dated_table().lookup("m-2024-01-01", at=at)
    assert (price.input_usd_per_mtok if price else None) == expected_input_usd_per_mtok


@pytest.mark.parametrize(
    ("name", "at", "expected_input_usd_per_mtok"),
    [
        pytest.param("o3", date(2025, 6, 9), 10.00, id="o3 at its launch price the day before the cut"),
        pytest.param("o3", date(2025, 6, 10), 2.00, id="o3 after its 80 percent cut"),
        pytest.param("gpt-4o", date(2024, 9, 1), 5.00, id="the gpt-4o alias before it moved to 2024-08-06"),
        pytest.param("gpt-4o-2024-08-06", date(2024, 9, 1), 2.50, id="the cheaper snapshot at the same time"),
        pytest.param("gpt-4o-2024-05-13", date(2025, 1, 1), 5.00, id="the first snapshot keeps its price"),
        pytest.param("deepseek-chat", date(2025, 10, 1), 0.28, id="deepseek-chat after the V3.2 cut"),
    ],
)
def test_shipped_price_changes(name: str, at: date, expected_input_usd_per_mtok: float) -> None:
    price = SHIPPED.lookup(name, at=at)
    assert price is not None
    assert price.input_usd_per_mtok == expected_input_usd_per_mtok


# ----------------------------------------------------------------------------- overrides


def test_an_override_with_the_same_model_and_date_replaces_the_entry() -> None:
    table = _dated_table().with_overrides([dataclasses.replace(BASELINE, model="M", input_usd_per_mtok=0.10)])
    assert [e.input_usd_per_mtok for e in table.entries] == [0.10, 1.50]


def test_an_override_with_a_later_date_takes_over_from_that_date() -> None:
    later = dataclasses.replace(BASELINE, effective_from=date(2025, 1, 1), input_usd_per_mtok=0.10)
    table = _dated_table().with_overrides([later])
    day_before = table.lookup("m", at=date(2024, 12, 31))
    assert day_before is not None and day_before.input_usd_per_mtok == 1.50
    assert table.lookup("m", at=date(2025, 1, 1)) == later


def test_an_override_for_a_new_model_adds_it_and_leaves_the_defaults() -> None:
    mine = dataclasses.replace(BASELINE, model="acme-llm", provider="acme")
    table = SHIPPED.with_overrides([mine])
    assert table.lookup("acme-llm-v2", at=SOME_DAY) == mine
    assert len(table.entries) == len(SHIPPED.entries) + 1
    assert SHIPPED.lookup("acme-llm", at=SOME_DAY) is None  # the defaults are not changed in place


def test_two_overrides_for_the_same_model_and_date_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        _dated_table().with_overrides([BASELINE, dataclasses.replace(BASELINE, model="M")])
    assert caught.value.problems == ["M: two prices effective from 2024-01-01"]


# ----------------------------------------------------------------------------- validation

GOOD_ENTRY: dict[str, Any] = {
    "model": "gpt-4o",
    "provider": "openai",
    "effective_from": date(2024, 10, 2),
    "input_usd_per_mtok": 2.50,
    "cache_read_usd_per_mtok": 1.25,
    "output_usd_per_mtok": 10.00,
}
WHERE = "agentslo.yaml: pricing.models"


def test_a_good_entry_parses_and_missing_cache_prices_take_the_input_price() -> None:
    (price,) = parse_price_entries([GOOD_ENTRY | {"effective_from": "2024-10-02"}], where=WHERE)
    assert price == ModelPrice(
        model="gpt-4o",
        provider="openai",
        input_usd_per_mtok=2.50,
        output_usd_per_mtok=10.00,
        cache_read_usd_per_mtok=1.25,
        cache_write_usd_per_mtok=2.50,  # not given: OpenAI bills cache writes as input
        effective_from=date(2024, 10, 2),
    )


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(
            {"input_usd_per_mtok": None},
            "[0].input_usd_per_mtok: must be a number >= 0 (USD per million tokens), got None (model 'gpt-4o')",
            id="a null price is refused",
        ),
        pytest.param(
            {"input_usd_per_mtok": "2.5"},
            "[0].input_usd_per_mtok: must be a number >= 0 (USD per million tokens), got '2.5' (model 'gpt-4o')",
            id="a quoted price is refused",
        ),
        pytest.param(
            {"output_usd_per_mtok": -1},
            "[0].output_usd_per_mtok: must be a number >= 0 (USD per million tokens), got -1 (model 'gpt-4o')",
            id="a negative price is refused",
        ),
        pytest.param(
            {"cache_write_usd_per_mtok": True},
            "[0].cache_write_usd_per_mtok: must be a number >= 0 (USD per million tokens), got True (model 'gpt-4o')",
            id="a boolean is not a price",
        ),
        pytest.param(
            {"effective_from": "2024-13-01"},
            "[0].effective_from: must be a date (YYYY-MM-DD), got '2024-13-01' (model 'gpt-4o')",
            id="an impossible date is refused",
        ),
        pytest.param(
            {"effective_from": datetime(2024, 10, 2, 12, 0)},
            "[0].effective_from: must be a date (YYYY-MM-DD), got datetime.datetime(2024, 10, 2, 12, 0) "
            "(model 'gpt-4o')",
            id="a timestamp is not a date",
        ),
        pytest.param(
            {"cache_reads_usd_per_mtok": 1.25},
            "[0].cache_reads_usd_per_mtok: unknown field (expected one of: model, provider, effective_from, "
            "input_usd_per_mtok, output_usd_per_mtok, cache_read_usd_per_mtok, cache_write_usd_per_mtok) "
            "(model 'gpt-4o')",
            id="a misspelt field is refused, not ignored",
        ),
        pytest.param(
            {"model": " "},
            "[0].model: must be a non-empty string, got ' '",
            id="a blank model name is refused",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_entry_and_field(edit: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_price_entries([GOOD_ENTRY | edit], where=WHERE)
    assert caught.value.problems == [WHERE + problem]


def test_every_problem_is_listed_not_only_the_first() -> None:
    missing_output = {k: v for k, v in GOOD_ENTRY.items() if k != "output_usd_per_mtok"}
    with pytest.raises(ConfigError) as caught:
        parse_price_entries([GOOD_ENTRY, missing_output, "gpt-4o"], where=WHERE)
    assert caught.value.problems == [
        f"{WHERE}[1].output_usd_per_mtok: missing (model 'gpt-4o')",
        f"{WHERE}[2]: must be a mapping with model, provider, effective_from, input_usd_per_mtok, "
        "output_usd_per_mtok, got str",
    ]


def test_entries_must_be_a_list() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_price_entries(GOOD_ENTRY, where=WHERE)
    assert caught.value.problems == [f"{WHERE}: must be a list of price entries, got dict"]


def test_two_entries_for_the_same_model_and_date_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        PriceTable([BASELINE, dataclasses.replace(BASELINE, input_usd_per_mtok=1.00)])
    assert caught.value.problems == ["m: two prices effective from 2024-01-01"]
