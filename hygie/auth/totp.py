"""Time-based one-time passwords (RFC 6238) and recovery codes, the second factor of Hygie.

TOTP: https://www.rfc-editor.org/rfc/rfc6238 (HOTP, RFC 4226: https://www.rfc-editor.org/rfc/rfc4226),
through pyotp, with the parameters every authenticator app supports: HMAC-SHA-1, 6 digits, 30-second
steps, 160-bit secrets (RFC 4226 §4 R6 recommends 160 bits).

- :func:`verify` accepts the code of the current step or of one step either side (RFC 6238 §6
  recommends allowing at most one step of network delay; it also absorbs clock drift and typing
  time: a code stays valid until the end of the step after its own), compares codes in constant
  time, and returns the matched **time step**. The caller
  stores it and passes it back as ``last_step``: a code is accepted only for a step strictly after
  the stored one, so a code can be used once (RFC 6238 §5.2: "the verifier MUST NOT accept the
  second attempt of the OTP after the successful validation has been issued for the first OTP").
  Rate limiting of attempts is the caller's job (:mod:`hygie.auth.throttle`): 10^6 codes, 3 valid.
- Codes are exactly 6 digits; spaces are ignored ("123 456"), full-width and Arabic-Indic digits
  (typed on a phone in another script) count as their ASCII digits.
- Recovery codes are 16 random characters from Crockford's base32 alphabet (no i, l, o, u), shown
  as ``xxxx-xxxx-xxxx-xxxx``: 80 bits from :mod:`secrets`. Typed codes are normalised (case,
  dashes, spaces; o → 0, i/l → 1) and stored as SHA-256 digests (:func:`digest`). A slow hash
  buys nothing here: with 80 random bits, an offline search of a stolen digest costs ~2^79
  SHA-256 evaluations (about a million GPU-years), whereas Argon2 exists to protect the
  few-bits-of-entropy secrets people choose. (60 bits, the issue's floor, would be about one
  GPU-year: four more characters buy the margin.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from typing import Final

import pyotp

STEP_SECONDS: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1  # steps accepted either side of the current one
SECRET_CHARS: Final = 32  # base32 characters: 160 bits
MAX_TYPED: Final = 64  # longer input is refused before any normalisation

RECOVERY_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lower case
RECOVERY_GROUPS: Final = 4
RECOVERY_GROUP_CHARS: Final = 4
RECOVERY_BITS: Final = RECOVERY_GROUPS * RECOVERY_GROUP_CHARS * 5
_LOOKALIKES: Final = str.maketrans({"o": "0", "i": "1", "l": "1"})


def new_secret() -> str:
    """A new random shared secret: 32 base32 characters (160 bits), to store with the account."""
    return pyotp.random_base32(SECRET_CHARS)


def provisioning_uri(secret: str, account_name: str, issuer: str = "Hygie") -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads from a QR code.

    Format: https://github.com/google/google-authenticator/wiki/Key-Uri-Format (label
    ``issuer:account``, parameters ``secret`` and ``issuer``).
    """
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def normalize_code(code: str) -> str | None:
    """The 6 ASCII digits of a typed code, or None when it is not exactly 6 digits."""
    if len(code) > MAX_TYPED:
        return None
    text = "".join(unicodedata.normalize("NFKC", code).split())
    if len(text) != DIGITS:
        return None
    digits = [unicodedata.decimal(char, None) for char in text]
    if any(d is None for d in digits):
        return None
    return "".join(str(d) for d in digits)


def verify(secret: str, code: str, *, last_step: int | None, now: float) -> int | None:
    """The time step ``code`` belongs to, if valid now (±1 step) and after ``last_step``; else None.

    ``now`` is Unix time in seconds (``time.time()``); ``last_step`` the step returned by the last
    successful call for this account (None before the first). Store the returned step: it makes
    the same code useless a second time. Raises ``ValueError`` only for a malformed ``secret``
    (stored data, not user input); any typed ``code`` gives a step or None.
    """
    typed = normalize_code(code)
    otp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    matched = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = otp.generate_otp(step) if step >= 0 else ""
        # Every candidate is computed and compared, whatever matched before (constant time).
        same = hmac.compare_digest(expected, typed or "-")
        if same and (last_step is None or step > last_step):
            matched = step
    return matched


def new_recovery_codes(n: int = 10) -> list[str]:
    """``n`` distinct recovery codes ``xxxx-xxxx-xxxx-xxxx`` (80 random bits each), shown once."""
    codes: list[str] = []
    size = RECOVERY_GROUPS * RECOVERY_GROUP_CHARS
    while len(codes) < n:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(size))
        code = "-".join(raw[i : i + RECOVERY_GROUP_CHARS] for i in range(0, size, RECOVERY_GROUP_CHARS))
        if code not in codes:
            codes.append(code)
    return codes


def normalize_recovery_code(code: str) -> str:
    """A typed recovery code without case, dashes or spaces, look-alike letters read as digits."""
    text = unicodedata.normalize("NFKC", code).casefold()
    return "".join(text.split()).replace("-", "").translate(_LOOKALIKES)


def digest(code: str) -> str:
    """SHA-256 (hex) of the normalised code: what is stored, and what a typed code is looked up by."""
    return hashlib.sha256(normalize_recovery_code(code).encode("utf-8")).hexdigest()
