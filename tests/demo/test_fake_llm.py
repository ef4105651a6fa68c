"""The demo's fake LLM provider: a real loopback endpoint that bills at AgentSLO's list prices, caches prompts
as each provider does, and fails on demand, read through the demo's chat client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agentslo.demo import PRICE_LIST, ChatClient, EndpointError, FakeLlm, Faults, Usage
from collector import PriceTable

SYSTEM = "You answer support tickets. " * 200   # 1,400 tokens: long enough to be cached
QUESTION = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Where is order 1234?"}]


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    running = FakeLlm(seed=1, stall_s=2).start()
    yield running
    running.stop()


@pytest.fixture
def client(fake: FakeLlm) -> Iterator[ChatClient]:
    opened = ChatClient(fake.url, timeout_s=0.5)
    yield opened
    opened.close()


@pytest.mark.parametrize("price", PRICE_LIST, ids=[price.model for price in PRICE_LIST])
def test_the_endpoint_bills_each_model_at_the_entry_agentslo_prices_its_dated_name_by(price) -> None:
    entry = PriceTable.default().lookup(price.snapshot, at=datetime.now(UTC).date())
    assert entry is not None
    assert (entry.provider, entry.input_usd_per_mtok, entry.cache_read_usd_per_mtok, entry.cache_write_usd_per_mtok,
            entry.output_usd_per_mtok) == (price.provider, float(price.input_usd_per_mtok),
                                           float(price.cache_read_usd_per_mtok), float(price.cache_write_usd_per_mtok),
                                           float(price.output_usd_per_mtok))


@pytest.mark.parametrize(("model", "first", "second"), [
    # OpenAI caches the prefix implicitly, in steps of 128 tokens from 1,024, and bills no cache write.
    ("gpt-4.1-mini", (0, 0), (1280, 0)),
    # Anthropic bills the first sight of a cached prefix as a cache write, then reads it.
    ("claude-haiku-4-5", (0, 1404), (1404, 0)),
    # Gemini caches implicitly too, the whole prefix.
    ("gemini-2.5-flash", (0, 0), (1404, 0)),
], ids=["openai", "anthropic", "gemini"])
def test_a_repeated_system_prompt_is_read_from_the_cache_as_its_provider_caches(
        client: ChatClient, model: str, first: tuple[int, int], second: tuple[int, int]) -> None:
    usages = [client.complete(model=model, messages=QUESTION, max_tokens=100).usage for _ in range(2)]
    assert [(u.cache_read_tokens, u.cache_write_tokens) for u in usages] == [first, second]
    assert usages[0].input_tokens == usages[1].input_tokens == 1404 + 9 + 3   # system, question, the reply's priming


def test_the_bill_is_every_answered_call_at_list_price(fake: FakeLlm, client: ChatClient) -> None:
    usages: list[Usage] = []
    for model in ("claude-sonnet-4-5", "claude-sonnet-4-5", "gpt-4.1"):
        completion = client.complete(model=model, messages=QUESTION, max_tokens=300)
        usages.append(completion.usage)
        assert completion.processing_s is not None and completion.processing_s > 0
    sonnet, gpt = (next(p for p in PRICE_LIST if p.model == name) for name in ("claude-sonnet-4-5", "gpt-4.1"))

    def cost(price, usage: Usage) -> Decimal:
        return price.cost_usd(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                              cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens)

    assert fake.billed_usd() == {"claude-sonnet-4-5": cost(sonnet, usages[0]) + cost(sonnet, usages[1]),
                                 "gpt-4.1": cost(gpt, usages[2])}
    assert cost(sonnet, Usage(2_000_000, 1_000_000, 500_000, 500_000)) == Decimal("20.025")


@pytest.mark.parametrize(("faults", "provider", "error_type", "retry_after_s"), [
    (Faults(rate_limited=1), "openai", "429", 2.0),
    (Faults(server_error=1), "anthropic", "529", None),
    (Faults(timeout=1), "openai", "timeout", None),
], ids=["rate limited, with Retry-After", "overloaded (Anthropic's 529)", "no answer: the client's timeout"])
def test_a_failing_provider_fails_its_models_only_and_bills_nothing_for_it(
        fake: FakeLlm, client: ChatClient, faults: Faults, provider: str, error_type: str,
        retry_after_s: float | None) -> None:
    fake.set_faults({provider: faults})
    model = next(p.model for p in PRICE_LIST if p.provider == provider)
    with pytest.raises(EndpointError) as failed:
        client.complete(model=model, messages=QUESTION, max_tokens=50)
    assert (failed.value.error_type, failed.value.retryable, failed.value.retry_after_s) == (
        error_type, True, retry_after_s)
    client.complete(model="gemini-2.5-flash", messages=QUESTION, max_tokens=50)
    assert set(fake.billed_usd()) == {"gemini-2.5-flash"}
    assert fake.outcomes()[model, error_type] == 1


def test_an_unknown_model_is_a_404_not_worth_retrying(client: ChatClient) -> None:
    with pytest.raises(EndpointError) as failed:
        client.complete(model="gpt-9", messages=QUESTION, max_tokens=50)
    assert (failed.value.error_type, failed.value.retryable) == ("404", False)
    assert "The model `gpt-9` does not exist" in str(failed.value)


def test_fault_shares_must_add_up_to_at_most_one() -> None:
    with pytest.raises(ValueError, match="add up to at most 1"):
        Faults(rate_limited=0.6, server_error=0.5)
