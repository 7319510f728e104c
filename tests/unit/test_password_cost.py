"""The PBKDF2 cost of stored password verifiers: production keeps its cost, whatever cheaper cost
the test processes use (tests/conftest.py), and a verifier records the cost it was made with."""

from __future__ import annotations

import subprocess
import sys

from brokerplane.core import passwords
from tests.conftest import PRODUCTION_PBKDF2_ITERATIONS, TEST_PBKDF2_ITERATIONS


def test_production_verifiers_cost_20000_pbkdf2_sha256_iterations() -> None:
    assert PRODUCTION_PBKDF2_ITERATIONS == 20_000
    code = "from brokerplane.core import passwords; print(passwords.make_verifier('Abc123!xyz'))"
    made = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    verifier = made.stdout.strip()
    assert verifier.startswith("pbkdf2_sha256$20000$"), verifier
    assert passwords.verify(verifier, "Abc123!xyz")  # the cheaper process checks it alike
    assert not passwords.verify(verifier, "Abc123!xyZ")


def test_a_verifier_is_checked_with_the_cost_it_records() -> None:
    cheap = passwords.make_verifier("Abc123!xyz")
    assert cheap.startswith(f"pbkdf2_sha256${TEST_PBKDF2_ITERATIONS}$")
    scheme, _, salt, digest = cheap.split("$")
    costly = "$".join((scheme, str(PRODUCTION_PBKDF2_ITERATIONS), salt, digest))
    assert passwords.verify(cheap, "Abc123!xyz")
    assert not passwords.verify(costly, "Abc123!xyz")  # the same digest at another cost
