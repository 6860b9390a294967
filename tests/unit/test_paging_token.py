"""The opaque ``_page`` token of search paging (hygie/search/paging.py).

Spec: https://hl7.org/fhir/R4/http.html#paging — paging links are opaque to clients; the server
must answer a malformed one with a 400 OperationOutcome (https://hl7.org/fhir/R4/search.html#errors).
The token only carries a position (the search parameters stay in the link), it is versioned, and
its decoding is strict: anything the server did not write itself is refused.
"""

from __future__ import annotations

import base64

import orjson
import pytest

from hygie.fhir.messages import render
from hygie.fhir.outcome import FhirError
from hygie.search.paging import MAX_TOKEN_CHARS, TOKEN_VERSION, Keyset, Offset, Token, decode, encode

TOKENS: list[Token] = [
    Keyset(forward=True, rk=1),
    Keyset(forward=True, rk=0),
    Keyset(forward=False, rk=123456789012),
    Offset(forward=True, position=7, snapshot=25, anchors=(7, 6, 5, 4, 3)),
    Offset(forward=False, position=0, snapshot=0, anchors=()),
    Offset(forward=False, position=999_999_999, snapshot=2**62, anchors=(2**62,)),
]


def raw(value: object) -> str:
    """What a client could forge: base64url (unpadded) of any JSON value."""
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def refused(text: str) -> FhirError:
    with pytest.raises(FhirError) as caught:
        decode(text)
    error = caught.value
    assert error.status == 400
    assert len(error.issues) == 1
    for lang in ("fr", "en"):
        assert "_page" in render(error.issues[0].key, lang, error.issues[0].params)
    return error


@pytest.mark.parametrize("token", TOKENS, ids=repr)
def test_round_trip_is_compact_and_url_safe(token: Token) -> None:
    text = encode(token)
    assert decode(text) == token
    assert len(text) <= MAX_TOKEN_CHARS
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_token_is_versioned() -> None:
    text = encode(Keyset(forward=True, rk=42))
    assert orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))[0] == TOKEN_VERSION
    assert decode(raw([TOKEN_VERSION, "a", 42])) == Keyset(forward=True, rk=42)
    refused(raw([TOKEN_VERSION + 1, "a", 42]))
    refused(raw([0, "a", 42]))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "!!!!",
        "a b",
        "%41%41",
        "A" * (MAX_TOKEN_CHARS + 1),  # oversized: refused before decoding
        raw([1, "a", 42]) + "==",  # padding: not the server's own encoding
        raw([1, "a", 42]) + "\n",
        " " + raw([1, "a", 42]),
        base64.b64encode(orjson.dumps([1, "a", 42])).decode() + "+/",
        raw({"v": 1}),
        raw([1]),
        raw([1, "a"]),
        raw([1, "a", 42, 1]),
        raw([1, "z", 42]),
        raw([1, "a", -1]),
        raw([1, "a", True]),
        raw([1, "a", 4.0]),
        raw([1, "a", "42"]),
        raw([1, "a", 2**63]),
        raw([True, "a", 42]),
        raw([1, "n", 7, 25]),
        raw([1, "n", 7, 25, [1, 2, 3, 4, 5, 6]]),  # too many anchors
        raw([1, "n", 7, 25, [0]]),
        raw([1, "n", 7, 25, "1,2"]),
        raw([1, "n", 7, -25, []]),
        raw([1, "p", 1_000_000_000, 25, []]),  # beyond the largest _offset
        raw([1, "n", 7, 25, [], 0]),
        "bm90IGpzb24",  # base64url of 'not json'
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
    ],
)
def test_anything_else_is_a_400_naming_page(text: str) -> None:
    refused(text)


def test_a_tampered_token_is_refused_or_decodes_to_another_valid_position() -> None:
    """Flipping any one character never crashes: a 400, or (rarely) another well-formed token —
    harmless, since a token is only a position and authorization is applied to the query."""
    text = encode(Offset(forward=True, position=14, snapshot=99, anchors=(14, 13)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    refusals = 0
    for i, char in enumerate(text):
        for other in (alphabet[(alphabet.index(char) + 1) % 64], alphabet[(alphabet.index(char) + 31) % 64]):
            forged = text[:i] + other + text[i + 1 :]
            try:
                token = decode(forged)
            except FhirError as error:
                assert error.status == 400
                refusals += 1
            else:
                assert encode(token) == forged  # only canonical texts are accepted
    assert refusals > len(text)
