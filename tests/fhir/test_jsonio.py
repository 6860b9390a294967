"""Decimal precision survives read → write (https://hl7.org/fhir/R4/json.html#primitive)."""

from __future__ import annotations

import pytest

from hygie.fhir.jsonio import Decimal, dumps, loads


@pytest.mark.parametrize(
    "text",
    [
        b'{"value":1.50}',
        b'{"value":1.00}',
        b'{"value":1.0}',
        b'{"value":1e3}',
        b'{"value":-2.5E-7}',
        b'{"value":0.1000000000000000055}',
        b'{"value":12345678901234567890.5}',
        b'{"a":[1.50, 2.0, 3],"b":"1.50 in text","c":true}',
        b'{"id":"018f428e-34f6-4707-8009-5ad742f901e7","n":7}',
    ],
)
def test_round_trip_keeps_the_text(text: bytes) -> None:
    assert dumps(loads(text)) == text.replace(b", ", b",")


def test_decimal_is_a_float() -> None:
    value = loads(b'{"v":1.50}')["v"]
    assert isinstance(value, Decimal)
    assert isinstance(value, float)
    assert value == 1.5
    assert value.text == "1.50"


@pytest.mark.parametrize(
    "bad",
    [
        b'{"v":NaN}',
        b'{"v":1.50,}',
        b'{"v":Infinity, "w":1.50}',
        b"{",
        b'{"v":1.50,"s":"\\ud800"}',
        b'{"s":"a\\u0000b"}',
        b"[1.50," + b"[" * 10**5,
    ],
)
def test_malformed_is_a_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        loads(bad)


def test_huge_integer_on_the_exact_path_can_be_written_back() -> None:
    data = loads(b'{"a":1.50,"b":123456789012345678901234567890}')
    assert dumps(data) == b'{"a":1.50,"b":123456789012345678901234567890}'
