"""Storage runs the same SQL with the same results on both backends."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from ground.errors import StorageError, StorageUnavailable
from ground.storage import Storage
from tests.support.values import ADVERSARIAL_VALUES


@pytest.mark.parametrize(
    ("placeholder", "value", "expected"),
    [
        pytest.param("{v:String}", "it's a \\ backslash", "it's a \\ backslash", id="quotes and backslashes stay data"),
        pytest.param("{v:String}", "'; DROP DATABASE x; --", "'; DROP DATABASE x; --", id="injection is only a string"),
        pytest.param("{v:String}", "naïve — 日本語", "naïve — 日本語", id="unicode survives"),
        pytest.param("{v:UInt64}", 18446744073709551615, 18446744073709551615, id="a UInt64 stays an exact integer"),
        pytest.param("{v:Float64}", 0.1, 0.1, id="a float"),
        pytest.param("{v:DateTime64(6)}", datetime(2026, 1, 2, 3, 4, 5, 123456), "2026-01-02 03:04:05.123456",
                     id="a datetime"),
    ],
)
def test_parameters_are_bound_not_spliced(storage: Storage, placeholder: str, value: object, expected: object) -> None:
    assert storage.query(f"SELECT {placeholder} AS v", {"v": value}).scalar() == expected


@pytest.mark.parametrize("value", ADVERSARIAL_VALUES)
def test_a_string_parameter_arrives_as_it_was_sent(storage: Storage, value: str) -> None:
    assert storage.query("SELECT {v:String} AS v, length(v) AS bytes", {"v": value}).rows == [
        (value, len(value.encode()))]


def test_query_returns_columns_and_typed_rows(storage: Storage) -> None:
    result = storage.query("SELECT number AS n, toString(number) AS s, nan AS f FROM numbers(2)")
    assert result.columns == ("n", "s", "f")
    assert result.rows == [(0, "0", None), (1, "1", None)]
    assert result.dicts()[1] == {"n": 1, "s": "1", "f": None}


def test_inserted_json_rows_read_back(storage: Storage) -> None:
    storage.command("CREATE TABLE t (id UInt64, name String, attrs Map(String, String), ts DateTime64(9)) "
                    "ENGINE = MergeTree ORDER BY id")
    body = (b'{"id": 1, "name": "a", "attrs": {"k": "v"}, "ts": "1700000000.123456789"}\n'
            b'{"id": 2, "name": "b\\u00e9", "attrs": {}, "ts": "1700000001.5"}\n')
    storage.insert_json_rows("t", body)
    rows = storage.query("SELECT id, name, attrs, toString(ts) FROM t ORDER BY id").rows
    assert rows == [
        (1, "a", {"k": "v"}, "2023-11-14 22:13:20.123456789"),
        (2, "bé", {}, "2023-11-14 22:13:21.500000000"),
    ]


def test_each_connection_works_in_its_own_database(storage: Storage) -> None:
    assert storage.query("SELECT currentDatabase()").scalar() == storage.database


def test_a_wrong_statement_raises_storage_error_with_the_engine_message(storage: Storage) -> None:
    with pytest.raises(StorageError, match="UNKNOWN_TABLE") as caught:
        storage.query("SELECT * FROM no_such_table")
    assert not isinstance(caught.value, StorageUnavailable)


def test_scalar_refuses_a_result_that_is_not_one_value(storage: Storage) -> None:
    with pytest.raises(StorageError, match="expected one value, got 2 rows of 1 columns"):
        storage.query("SELECT number FROM numbers(2)").scalar()


def test_floats_keep_full_precision(storage: Storage) -> None:
    value = storage.query("SELECT {v:Float64} * 3 AS v", {"v": 1 / 3}).scalar()
    assert math.isclose(value, 1.0, rel_tol=0, abs_tol=1e-15)


def test_concurrent_inserts_and_queries_do_not_collide(storage: Storage) -> None:
    from concurrent.futures import ThreadPoolExecutor

    storage.command("CREATE TABLE c (x UInt64) ENGINE = MergeTree ORDER BY x")
    body = b"\n".join(b'{"x": %d}' % i for i in range(20_000))

    def insert(_: int) -> None:
        storage.insert_json_rows("c", body)

    def query(_: int) -> int:
        return storage.query("SELECT count() FROM c").scalar()

    with ThreadPoolExecutor(max_workers=4) as pool:
        inserts = [pool.submit(insert, i) for i in range(8)]
        queries = [pool.submit(query, i) for i in range(8)]
        for future in inserts + queries:
            future.result()
    assert storage.query("SELECT count() FROM c").scalar() == 160_000
