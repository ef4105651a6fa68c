"""Strings that a query parameter must carry as they are: each breaks a binding that escapes too little.

ClickHouse reads a query parameter's value in its escaped text format: a
backslash starts an escape sequence and a tab or a line feed ends the value.
`ADVERSARIAL_VALUES` are pytest params with a sentence id each.
"""

from __future__ import annotations

import pytest

ADVERSARIAL_VALUES = [
    pytest.param("x' OR 1=1 --", id="a single quote"),
    pytest.param("x\\' OR 1=1 --", id="a backslash before a quote is two characters"),
    pytest.param("C:\\new\\table", id="backslash-n and backslash-t are text"),
    pytest.param("ends with a backslash\\", id="a trailing backslash"),
    pytest.param("two\nlines", id="a line feed"),
    pytest.param("a\ttab", id="a tab"),
    pytest.param("carriage\rreturn", id="a carriage return"),
    pytest.param("nul\x00byte", id="a NUL"),
    pytest.param("\\N", id="the escaped format's NULL is text"),
    pytest.param("\\x41\\u0041\\0", id="hex, unicode and NUL escapes are text"),
    pytest.param("{x:String}", id="a placeholder is text"),
    pytest.param('"double" `back`', id="double quotes and backticks"),
    pytest.param("\u202euser\u202c", id="right-to-left override marks"),
    pytest.param("0123456789" * 1_000, id="10,000 characters"),
]
