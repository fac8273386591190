"""Gift card codes: generation, normalization, check digit, and keeping them secret at rest.

A code is bearer money, so it is never stored in plain text. The database keeps
- a keyed hash (HMAC-SHA256) to find a card by its code, and
- a sealed copy (AES-GCM, authenticated) only to show it to someone allowed to see it or to push it
  to a channel that needs it.
Both keys are derived from the configured secret with HKDF, one key per purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass

from omnigift.sealing import Sealer, derive_key

MIN_RANDOM_DIGITS = 15  # ~50 bits: guessing stays hopeless even with the last 4 printed
IMPORTED_CODE = re.compile(r"^[A-Z0-9]{8,20}$")
_SEPARATORS = re.compile(r"[\s\-]+")


class InvalidCode(ValueError):
    """A code that can never belong to a card (wrong shape or check digit)."""


def normalize(raw: str) -> str:
    """Spaces, dashes and case are ignored: ``"ab12-cd34 ef56"`` -> ``"AB12CD34EF56"``."""
    return _SEPARATORS.sub("", raw).upper()


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit that makes ``digits + check`` valid."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(code: str) -> bool:
    """True when the last digit of an all-digit code is its Luhn check digit."""
    return code.isdigit() and len(code) >= 2 and luhn_check_digit(code[:-1]) == code[-1]


def mask(code_last4: str) -> str:
    """The shape staff and receipts see: ``•••• •••• •••• 4821``."""
    return f"•••• •••• •••• {code_last4}"


def format_code(code: str) -> str:
    """Groups of four for reading aloud or printing: ``6011 2345 6789 0123 4821``."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class CodePolicy:
    """How generated codes look: total length, fixed prefix, Luhn digit last."""

    length: int = 20
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.length - len(self.prefix) - 1 < MIN_RANDOM_DIGITS:
            raise ValueError(
                f"a code of {self.length} digits with prefix {self.prefix!r} would have fewer "
                f"than {MIN_RANDOM_DIGITS} random digits"
            )

    def generate(self) -> str:
        """A new code from the operating system's CSPRNG."""
        random_len = self.length - len(self.prefix) - 1
        body = self.prefix + "".join(secrets.choice("0123456789") for _ in range(random_len))
        return body + luhn_check_digit(body)

    def looks_generated(self, code: str) -> bool:
        """True when a normalized code has the shape of one we generate."""
        return code.isdigit() and len(code) == self.length and code.startswith(self.prefix)

    def precheck(self, code: str) -> None:
        """Refuse, without a database hit, a code that cannot exist.

        Generated-shape codes must carry a valid check digit; anything else must at least be an
        acceptable imported code (8..20 letters and digits).
        """
        if self.looks_generated(code):
            if not luhn_valid(code):
                raise InvalidCode("check digit does not match")
        elif not IMPORTED_CODE.match(code):
            raise InvalidCode("codes are 8 to 20 letters and digits")

    def validate_imported(self, code: str) -> None:
        """An imported code or serial is taken as given if it is 8..20 letters and digits.

        One that has exactly the generated shape must pass the check digit too, or lookups would
        reject it before reaching the database.
        """
        if not IMPORTED_CODE.match(code):
            raise InvalidCode("a code must be 8 to 20 letters and digits")
        if self.looks_generated(code) and not luhn_valid(code):
            raise InvalidCode(
                f"a {self.length}-digit code with the configured prefix must end in a valid "
                "Luhn check digit"
            )


class CodeVault:
    """Turns codes into what the database may hold: a lookup hash and a sealed copy."""

    def __init__(self, secret: bytes) -> None:
        self._lookup_key = derive_key(secret, "code-lookup")
        self._sealer = Sealer(secret, "code")

    def lookup_hash(self, normalized_code: str) -> str:
        """HMAC-SHA256 of the normalized code, hex: the only way to find a card by code."""
        return hmac.new(self._lookup_key, normalized_code.encode(), hashlib.sha256).hexdigest()

    def seal(self, normalized_code: str) -> str:
        """Authenticated encryption of the code."""
        return self._sealer.seal(normalized_code)

    def unseal(self, sealed: str) -> str:
        """The plain code back, for a caller allowed to see it. Tampering raises."""
        return self._sealer.unseal(sealed)


def hash_pin(pin: str) -> str:
    """A slow salted hash (scrypt) of a card PIN: a stolen database does not give PINs away."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time comparison of a PIN with its stored scrypt hash."""
    _, salt_b64, digest_b64 = stored.split("$")
    digest = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt_b64), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
