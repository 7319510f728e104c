"""TOTP as authenticator apps compute it (RFC 6238's own test vectors), the window either side of
now, the otpauth:// URI, the sealing of a secret at rest, and recovery codes' forms."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from brokerplane.core.access import totp
from brokerplane.core.audit.model import AuditKey, AuditKeys

# RFC 6238 appendix B: the SHA-1 seed and its 8-digit values at these times
RFC_SECRET = b"12345678901234567890"
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("seconds", "expected"), RFC_VECTORS)
def test_codes_match_the_rfc_6238_test_vectors(seconds: int, expected: str) -> None:
    assert totp.code_at(RFC_SECRET, seconds, digits=8) == expected
    # the 6 digits apps show are the same value modulo 10^6
    assert totp.code_at(RFC_SECRET, seconds) == expected[-6:]


def test_a_code_is_accepted_one_step_either_side_of_now_and_no_further() -> None:
    at = datetime.fromtimestamp(1111111111, UTC)
    now = totp.step_at(at)
    for offset in (-1, 0, 1):
        code = totp.code_at_step(RFC_SECRET, now + offset)
        assert totp.matching_step(RFC_SECRET, code, at) == now + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at_step(RFC_SECRET, now + offset)
        if code not in {totp.code_at_step(RFC_SECRET, now + d) for d in (-1, 0, 1)}:
            assert totp.matching_step(RFC_SECRET, code, at) is None


def test_codes_are_read_as_typed_with_spaces_but_only_as_six_digits() -> None:
    assert totp.normal_code(" 123 456 ") == "123456"
    for bad in ("12345", "1234567", "12345a", "١٢٣٤٥٦", "", None, 123456, "1" * 100):
        assert totp.normal_code(bad) is None


def test_the_otpauth_uri_carries_the_secret_issuer_and_parameters() -> None:
    uri = totp.otpauth_uri(RFC_SECRET, "1001", "brokerplane")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/brokerplane%3A1001")
    query = parse_qs(parts.query)
    assert base64.b32decode(query["secret"][0] + "=" * (-len(query["secret"][0]) % 8)) == (
        RFC_SECRET
    )
    assert query["issuer"] == ["brokerplane"]
    assert (query["algorithm"], query["digits"], query["period"]) == (["SHA1"], ["6"], ["30"])


def _keys() -> AuditKeys:
    return AuditKeys(AuditKey(b"k" * 32))


def test_a_sealed_secret_opens_only_for_its_manager_and_under_its_keyring() -> None:
    keys = _keys()
    sealed = totp.seal(RFC_SECRET, 1001, keys)
    assert base64.b32encode(RFC_SECRET).decode() not in sealed
    assert RFC_SECRET.decode() not in sealed
    assert totp.open_sealed(sealed, 1001, keys) == RFC_SECRET
    with pytest.raises(totp.SealError):
        totp.open_sealed(sealed, 1002, keys)  # moved to another manager's row
    with pytest.raises(totp.SealError):
        totp.open_sealed(sealed, 1001, AuditKeys(AuditKey(b"x" * 32)))  # another keyring
    body = sealed.rsplit(":", 1)
    tampered = body[0] + ":" + base64.b64encode(b"\0" * 40).decode()
    with pytest.raises(totp.SealError):
        totp.open_sealed(tampered, 1001, keys)


def test_a_rotated_keyring_still_opens_secrets_sealed_under_its_older_key() -> None:
    old = _keys()
    sealed = totp.seal(RFC_SECRET, 1001, old)
    rotated = AuditKeys(AuditKey(b"n" * 32), (old.current,))
    assert totp.open_sealed(sealed, 1001, rotated) == RFC_SECRET


def test_recovery_codes_are_random_and_read_in_any_case_with_or_without_dashes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == totp.RECOVERY_CODES == len(set(codes))
    code = codes[0]
    normal = totp.normal_recovery_code(code)
    assert normal is not None and len(normal) == 10
    assert totp.normal_recovery_code(code.upper().replace("-", " ")) == normal
    assert totp.recovery_hash(1001, normal) != totp.recovery_hash(1002, normal)
    for bad in ("short", "0000000000", "x" * 100, None):
        assert totp.normal_recovery_code(bad) is None


def test_a_recovery_code_is_stored_salted_and_found_among_the_stored_hashes() -> None:
    normal = "abcdefghjk"
    first, second = totp.recovery_hash(1001, normal), totp.recovery_hash(1001, normal)
    assert first != second  # a salt of its own each time
    assert len(first) <= 64 and normal not in first  # fits the column
    others = [totp.recovery_hash(1001, "mnpqrstuvw"), "not$a-hash", "$", ""]
    assert totp.recovery_matches(1001, normal, [*others, second]) == second
    assert totp.recovery_matches(1001, "mnpqrstuvx", [*others, first]) is None
    assert totp.recovery_matches(1002, normal, [first, second]) is None  # bound to its manager
