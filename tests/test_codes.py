"""Gift card codes: shape, check digit, normalization, and secrecy at rest (pure)."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from omnigift.codes import (
    MIN_RANDOM_DIGITS,
    CodePolicy,
    CodeVault,
    InvalidCode,
    format_code,
    hash_pin,
    luhn_check_digit,
    luhn_valid,
    mask,
    normalize,
    verify_pin,
)

SECRET = b"test-secret-" + b"x" * 40


def vault(secret: bytes = SECRET) -> CodeVault:
    return CodeVault(secret)


def with_check_digit(body: str) -> str:
    return body + luhn_check_digit(body)


def mistype(code: str, position: int) -> str:
    """The code with one digit changed (each digit of a Luhn code is protected)."""
    wrong = str((int(code[position]) + 1) % 10)
    return code[:position] + wrong + code[position + 1 :]


def generated(policy: CodePolicy, count: int = 200) -> list[str]:
    return [policy.generate() for _ in range(count)]


# Generation


def test_generated_codes_are_twenty_digits_by_default():
    for code in generated(CodePolicy()):
        assert len(code) == 20 and code.isdigit()


def test_generated_codes_end_in_a_valid_luhn_check_digit():
    for code in generated(CodePolicy()):
        assert luhn_valid(code)
        assert code[-1] == luhn_check_digit(code[:-1])


def test_generated_codes_start_with_the_configured_prefix():
    policy = CodePolicy(prefix="6011")
    for code in generated(policy):
        assert code.startswith("6011") and len(code) == 20 and luhn_valid(code)


def test_generated_codes_have_the_configured_length():
    for code in generated(CodePolicy(length=16), 50):
        assert len(code) == 16 and luhn_valid(code)


def test_generated_codes_are_not_repeated():
    codes = generated(CodePolicy(), 1000)
    assert len(set(codes)) == len(codes)


def test_generated_codes_use_every_digit_in_the_random_part():
    digits = set("".join(code[4:-1] for code in generated(CodePolicy(prefix="1234"), 50)))
    assert digits == set("0123456789")


def test_a_prefix_leaving_fewer_than_fifteen_random_digits_is_refused():
    assert MIN_RANDOM_DIGITS == 15
    CodePolicy(length=20, prefix="1234")  # 15 random digits: the minimum
    with pytest.raises(ValueError):
        CodePolicy(length=20, prefix="12345")
    with pytest.raises(ValueError):
        CodePolicy(length=16, prefix="1")


def test_a_short_code_without_a_prefix_still_has_fifteen_random_digits():
    CodePolicy(length=16, prefix="")
    with pytest.raises(ValueError):
        CodePolicy(length=15, prefix="")


# Luhn


def test_luhn_check_digit_of_a_known_number():
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")


def test_luhn_refuses_non_digits_and_too_short_codes():
    assert not luhn_valid("7992739871A")
    assert not luhn_valid("0")
    assert not luhn_valid("")


def test_precheck_refuses_any_single_mistyped_digit():
    policy = CodePolicy()
    code = policy.generate()
    for position in range(len(code)):
        with pytest.raises(InvalidCode):
            policy.precheck(mistype(code, position))


def test_precheck_accepts_a_generated_code():
    policy = CodePolicy(prefix="6011")
    policy.precheck(policy.generate())


def test_precheck_refuses_what_can_never_be_a_code():
    policy = CodePolicy()
    for bad in ("", "1234567", "ABC$1234", "A" * 21):
        with pytest.raises(InvalidCode):
            policy.precheck(bad)


def test_precheck_lets_an_imported_shape_through_without_a_check_digit():
    CodePolicy().precheck("SERIAL0042")


# Normalization


@pytest.mark.parametrize(
    "raw",
    ["ab12-cd34 ef56", "AB12CD34EF56", " ab12 cd34 ef56 ", "ab12--cd34\tef56", "Ab12-Cd34-Ef56"],
)
def test_normalize_ignores_spaces_dashes_and_case(raw):
    assert normalize(raw) == "AB12CD34EF56"


def test_a_printed_code_normalizes_back_to_the_code():
    code = CodePolicy().generate()
    assert normalize(format_code(code)) == code
    assert normalize(format_code(code).replace(" ", "-")) == code


def test_format_code_groups_by_four_and_mask_shows_only_the_last_four():
    assert format_code("60112345678901234821") == "6011 2345 6789 0123 4821"
    assert mask("4821") == "•••• •••• •••• 4821"


# Imported codes


@pytest.mark.parametrize("code", ["ABCD1234", "SERIAL0000000042", "A" * 20, "12345678", "Z" * 8])
def test_imported_codes_of_eight_to_twenty_letters_and_digits_are_accepted(code):
    CodePolicy().validate_imported(code)


@pytest.mark.parametrize(
    "code", ["ABC1234", "A" * 21, "ABCD-1234", "ABCD 1234", "abcd1234", "ÄBCD1234", "", "ABCD_1234"]
)
def test_imported_codes_of_another_shape_are_refused(code):
    with pytest.raises(InvalidCode):
        CodePolicy().validate_imported(code)


def test_an_imported_code_shaped_like_a_generated_one_must_carry_a_valid_check_digit():
    policy = CodePolicy(prefix="6011")
    good = with_check_digit("6011" + "0" * 15)
    policy.validate_imported(good)
    with pytest.raises(InvalidCode):
        policy.validate_imported(mistype(good, 19))


def test_an_imported_twenty_digit_code_without_the_prefix_needs_no_check_digit():
    CodePolicy(prefix="6011").validate_imported(mistype(with_check_digit("9" * 19), 19))


# The vault: lookup hash and sealed copy


def test_the_same_code_always_has_the_same_lookup_hash():
    code = CodePolicy().generate()
    assert vault().lookup_hash(code) == vault().lookup_hash(code)


def test_different_codes_have_different_lookup_hashes():
    assert vault().lookup_hash("ABCD1234") != vault().lookup_hash("ABCD1235")


def test_another_secret_gives_another_lookup_hash():
    code = CodePolicy().generate()
    assert vault().lookup_hash(code) != vault(b"another-secret-" + b"y" * 40).lookup_hash(code)


def test_the_lookup_hash_is_hex_sha256_and_does_not_contain_the_code():
    code = CodePolicy().generate()
    digest = vault().lookup_hash(code)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert code not in digest


def test_a_sealed_code_unseals_to_the_same_code():
    code = CodePolicy().generate()
    assert vault().unseal(vault().seal(code)) == code


def test_sealing_twice_gives_different_texts():
    code = CodePolicy().generate()
    assert vault().seal(code) != vault().seal(code)


def test_the_sealed_text_does_not_contain_the_code_in_clear():
    code = CodePolicy().generate()
    sealed = vault().seal(code)
    raw = base64.urlsafe_b64decode(sealed)
    assert code not in sealed and code.encode() not in raw


def test_a_tampered_sealed_code_is_refused():
    sealed = bytearray(base64.urlsafe_b64decode(vault().seal("ABCD12345678")))
    sealed[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        vault().unseal(base64.urlsafe_b64encode(bytes(sealed)).decode())


def test_a_tampered_nonce_is_refused():
    sealed = bytearray(base64.urlsafe_b64decode(vault().seal("ABCD12345678")))
    sealed[0] ^= 0x80
    with pytest.raises(InvalidTag):
        vault().unseal(base64.urlsafe_b64encode(bytes(sealed)).decode())


def test_a_sealed_code_cannot_be_unsealed_with_another_secret():
    sealed = vault().seal("ABCD12345678")
    with pytest.raises(InvalidTag):
        vault(b"another-secret-" + b"y" * 40).unseal(sealed)


# PINs


def test_the_right_pin_verifies_against_its_hash():
    assert verify_pin("4821", hash_pin("4821"))


def test_a_wrong_pin_is_refused():
    stored = hash_pin("4821")
    assert not verify_pin("4822", stored)
    assert not verify_pin("48210", stored)
    assert not verify_pin("", stored)


def test_a_pin_hash_is_salted_and_does_not_contain_the_pin():
    first, second = hash_pin("123456"), hash_pin("123456")
    assert first != second
    assert first.startswith("scrypt$") and "123456" not in first
    assert verify_pin("123456", first) and verify_pin("123456", second)
