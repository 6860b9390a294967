"""RFC 6238 TOTP and recovery codes of hygie.auth.totp (a fixed ``now``, never the clock)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from hygie.auth import totp
from hygie.auth.totp import (
    RECOVERY_ALPHABET,
    STEP_SECONDS,
    digest,
    new_recovery_codes,
    new_secret,
    normalize_code,
    normalize_recovery_code,
    provisioning_uri,
    verify,
)

# RFC 6238 Appendix B: SHA-1 seed "12345678901234567890" (ASCII); the 6-digit codes are the last six
# digits of the 8-digit values of the table (RFC 4226 dynamic truncation modulo 10^digits).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "287082"),
    (1111111109, "081804"),
    (1111111111, "050471"),
    (1234567890, "005924"),
    (2000000000, "279037"),
    (20000000000, "353130"),
]
NOW = 1_234_567_890.0
STEP = int(NOW) // STEP_SECONDS  # 41152263


def code_at(step: int, secret: str = RFC_SECRET) -> str:
    """The code of a step, from the RFC 4226 algorithm written out here (not pyotp)."""
    mac = hmac.new(base64.b32decode(secret), step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@pytest.mark.parametrize(("now", "code"), RFC_VECTORS)
def test_rfc_6238_vectors(now: int, code: str) -> None:
    assert code_at(now // 30) == code
    assert verify(RFC_SECRET, code, last_step=None, now=float(now)) == now // 30


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-3, False), (-2, False), (-1, True), (0, True), (1, True), (2, False), (3, False)],
)
def test_one_step_of_drift_either_way(offset: int, accepted: bool) -> None:
    result = verify(RFC_SECRET, code_at(STEP + offset), last_step=None, now=NOW)
    assert result == (STEP + offset if accepted else None)


@pytest.mark.parametrize(
    ("now", "step"),
    [(STEP * 30.0, STEP), (STEP * 30 + 29.999, STEP), (STEP * 30 + 30.0, STEP + 1)],
)
def test_step_boundaries(now: float, step: int) -> None:
    assert verify(RFC_SECRET, code_at(step + 1), last_step=None, now=now) == step + 1
    assert verify(RFC_SECRET, code_at(step - 2), last_step=None, now=now) is None


@pytest.mark.parametrize(
    ("offset", "last_offset", "expected"),
    [
        (0, 0, None),  # the same code twice: replay
        (-1, 0, None),  # an older code after a newer one
        (-1, -1, None),
        (0, -1, 0),  # the next step after the stored one
        (1, 0, 1),
        (1, 1, None),
        (0, -5, 0),
    ],
)
def test_replay_protection(offset: int, last_offset: int, expected: int | None) -> None:
    result = verify(RFC_SECRET, code_at(STEP + offset), last_step=STEP + last_offset, now=NOW)
    assert result == (None if expected is None else STEP + expected)


def test_the_caller_stores_the_returned_step() -> None:
    code = code_at(STEP)
    first = verify(RFC_SECRET, code, last_step=None, now=NOW)
    assert first == STEP
    assert verify(RFC_SECRET, code, last_step=first, now=NOW + 20) is None
    assert verify(RFC_SECRET, code_at(STEP + 1), last_step=first, now=NOW + 30) == STEP + 1


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("005924", "005924"),
        (" 005 924 ", "005924"),
        ("005\u00a0924\n", "005924"),  # no-break space, newline
        ("\uff10\uff10\uff15\uff19\uff12\uff14", "005924"),  # full-width digits
        ("\u0660\u0660\u0665\u0669\u0662\u0664", "005924"),  # Arabic-Indic digits
        ("05924", None),
        ("0059245", None),
        ("005-924", None),
        ("00592a", None),
        ("+05924", None),
        ("", None),
        ("      ", None),
        ("x" * 10_000, None),
    ],
)
def test_code_format(typed: str, normalized: str | None) -> None:
    assert normalize_code(typed) == normalized
    assert verify(RFC_SECRET, typed, last_step=None, now=NOW) == (STEP if normalized else None)


def test_wrong_code_is_refused() -> None:
    right = code_at(STEP)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert verify(RFC_SECRET, wrong, last_step=None, now=NOW) is None


def test_new_secret_is_160_bits_of_base32() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20
        now = 1_700_000_000.0
        assert verify(secret, code_at(int(now) // 30, secret), last_step=None, now=now) == int(now) // 30


def test_provisioning_uri() -> None:
    secret = new_secret()
    uri = provisioning_uri(secret, "marie.curie@chu-lyon.fr")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Hygie:marie.curie@chu-lyon.fr"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Hygie"]
    other = provisioning_uri(secret, "jdupont", issuer="CHU de Lyon")
    assert unquote(urlsplit(other).path) == "/CHU de Lyon:jdupont"
    assert parse_qs(urlsplit(other).query)["issuer"] == ["CHU de Lyon"]


# --- recovery codes ----------------------------------------------------------------------------


def test_recovery_codes_shape_and_entropy() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    assert len(RECOVERY_ALPHABET) == 32 == len(set(RECOVERY_ALPHABET))
    assert not set("ilou") & set(RECOVERY_ALPHABET), "no ambiguous letters"
    group = f"[{RECOVERY_ALPHABET}]{{4}}"
    for code in codes:
        assert re.fullmatch(f"{group}(-{group}){{3}}", code), code
    assert totp.RECOVERY_BITS == 16 * 5 >= 60
    assert len(new_recovery_codes(3)) == 3


@pytest.mark.parametrize(
    "typed",
    [
        "7k2m-9pq4-hx3v-0a1b",
        "7K2M-9PQ4-HX3V-0A1B",
        "7k2m9pq4hx3v0a1b",
        " 7k2m 9pq4 hx3v 0a1b ",
        "7k2m-9pq4-hx3v-oaib",  # O and I typed for 0 and 1
        "7k2m-9pq4-hx3v-0AlB",  # l typed for 1
        "\uff17k2m-9pq4-hx3v-0a1b",  # full-width 7
    ],
)
def test_recovery_code_normalisation(typed: str) -> None:
    assert normalize_recovery_code(typed) == "7k2m9pq4hx3v0a1b"
    assert digest(typed) == hashlib.sha256(b"7k2m9pq4hx3v0a1b").hexdigest()


def test_recovery_digests_differ_and_are_stable() -> None:
    codes = new_recovery_codes(10)
    digests = [digest(code) for code in codes]
    assert len(set(digests)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    assert digest(codes[0].upper().replace("-", " ")) == digests[0]
    assert digest("7k2m-9pq4-hx3v-0a1c") != digest("7k2m-9pq4-hx3v-0a1b")
