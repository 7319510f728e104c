"""A manager's TOTP second factor on both engines: enrolment is confirmed by a first code and
stores the secret sealed; the console's sign-in then needs a code after the password; a code is
accepted once; a recovery code works once; wrong codes count toward the sign-in lockout and
toward the waiting sign-in's own attempts; a waiting sign-in expires and dies with a new
password; turning it off needs a proof; an administrator's reset is audited."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from brokerplane.bootstrap import Runtime
from brokerplane.core.access import second_factor as sf
from brokerplane.core.access import totp
from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.access.service import CreateManager, UpdateManager
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.backoffice.sessions import SignIn
from brokerplane.core.errors import Conflict, PermissionDenied, Unauthorized, ValidationError
from brokerplane.core.services import Services
from brokerplane.storage import tables
from tests.unit.fakes import FakeClock

LOGIN = 1000
PASSWORD = "desk-password-1"
ADDRESS = "192.0.2.7"
TTL = timedelta(minutes=30)


@pytest.fixture
def desk(services: Services, admin: Actor) -> Actor:
    services.create_manager(CreateManager(LOGIN, "desk", PASSWORD, frozenset({"users:read"})),
                            admin)  # fmt: skip
    return Actor(manager_login=LOGIN, scopes=frozenset({"users:read"}), dialect="console",
                 ip=ADDRESS)  # fmt: skip


def _anonymous() -> Actor:
    return Actor(manager_login=None, dialect="console", ip=ADDRESS)


def _secret(enrolment: totp.Enrolment) -> bytes:
    text = enrolment.secret
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _enrol(services: Services, desk: Actor, clock: FakeClock) -> tuple[bytes, list[str]]:
    secret = _secret(services.start_second_factor(desk))
    codes = services.confirm_second_factor(desk, totp.code_at(secret, clock()))
    clock.advance(seconds=totp.PERIOD)  # the confirming code is used: the next step's is new
    return secret, codes


def _password(services: Services, password: str = PASSWORD) -> sf.FirstStep:
    return services.sign_in_console(SignIn(str(LOGIN), password, TTL, TTL), _anonymous())


def _second(services: Services, challenge: str | None, code: str) -> object:
    assert challenge is not None
    return services.sign_in_second_step(sf.SecondStep(challenge, code, TTL, TTL), _anonymous())


def test_without_a_second_factor_the_password_gives_a_session(
    services: Services, desk: Actor
) -> None:
    step = _password(services)
    assert step.pair is not None and step.challenge is None
    assert services.authenticate_backoffice_token(step.pair.access_token).id == LOGIN


def test_enrolment_is_on_only_after_a_first_code_and_stores_the_secret_sealed(
    services: Services, desk: Actor, clock: FakeClock, runtime: Runtime
) -> None:
    enrolment = services.start_second_factor(desk)
    assert enrolment.uri.startswith("otpauth://totp/brokerplane%3A1000?secret=")
    state = services.second_factor_status(desk)
    assert not state.enabled and state.pending == enrolment  # shown again until confirmed
    assert _password(services).pair is not None  # not on yet
    secret = _secret(enrolment)
    with pytest.raises(ValidationError):
        services.confirm_second_factor(desk, totp.code_at(secret, clock() + timedelta(hours=1)))
    codes = services.confirm_second_factor(desk, totp.code_at(secret, clock()))
    assert len(codes) == 10 and len(set(codes)) == 10
    state = services.second_factor_status(desk)
    assert state.enabled and state.pending is None and state.recovery_left == 10
    with runtime.storage.engine.connect() as conn:
        stored = conn.execute(select(tables.manager_second_factors)).one()._mapping
        hashes = conn.execute(select(tables.manager_recovery_codes.c.code_hash)).scalars().all()
    assert enrolment.secret not in stored["sealed_secret"]
    assert not any(c.replace("-", "") in h for c in codes for h in hashes)
    with pytest.raises(Conflict):
        services.start_second_factor(desk)  # on: turn it off first
    trail = services.query_audit(AuditQuery(action="manager.second_factor_enabled"),
                                 services_admin())  # fmt: skip
    assert [r.entity_id for r in trail] == [str(LOGIN)]


def services_admin() -> Actor:
    from brokerplane.core.actor import system_actor

    return system_actor()


def test_sign_in_needs_a_code_after_the_password_and_a_code_works_once(
    services: Services, desk: Actor, clock: FakeClock
) -> None:
    secret, _ = _enrol(services, desk, clock)
    step = _password(services)
    assert step.pair is None and step.challenge is not None
    with pytest.raises(Unauthorized):
        services.authenticate_backoffice_token(step.challenge)  # no session by itself
    code = totp.code_at(secret, clock())
    pair = _second(services, step.challenge, code)
    assert services.authenticate_backoffice_token(pair.access_token).id == LOGIN  # type: ignore[attr-defined]
    with pytest.raises(Unauthorized, match="expired"):
        _second(services, step.challenge, code)  # the challenge is spent
    again = _password(services)
    with pytest.raises(Unauthorized, match="used already"):
        _second(services, again.challenge, code)  # replay within the window
    clock.advance(seconds=totp.PERIOD)
    assert _second(services, again.challenge, totp.code_at(secret, clock())) is not None


def test_a_recovery_code_signs_in_once(services: Services, desk: Actor, clock: FakeClock) -> None:
    _, codes = _enrol(services, desk, clock)
    _second(services, _password(services).challenge, codes[3].upper())
    assert services.second_factor_status(desk).recovery_left == 9
    with pytest.raises(Unauthorized, match="wrong code"):
        _second(services, _password(services).challenge, codes[3])


def test_wrong_codes_count_toward_the_same_lockout_as_wrong_passwords(
    services: Services, desk: Actor, clock: FakeClock
) -> None:
    secret, _ = _enrol(services, desk, clock)
    services.config = replace(services.config, lockout=LockoutPolicy(failures=3))
    step = _password(services)
    for _ in range(3):
        with pytest.raises(Unauthorized, match="wrong code"):
            _second(services, step.challenge, "000000")
    with pytest.raises(Unauthorized, match="too many failed sign-ins"):
        _second(services, step.challenge, totp.code_at(secret, clock()))
    with pytest.raises(Unauthorized, match="too many failed sign-ins"):
        _password(services)  # the password too: one lockout
    clock.advance(seconds=60)  # the lock ends
    pair = _second(services, _password(services).challenge, totp.code_at(secret, clock()))
    assert pair is not None


def test_a_waiting_sign_in_allows_few_codes_expires_and_dies_with_a_new_password(
    services: Services, desk: Actor, clock: FakeClock, admin: Actor
) -> None:
    secret, _ = _enrol(services, desk, clock)
    services.config = replace(services.config, lockout=LockoutPolicy(failures=50))
    step = _password(services)
    for _ in range(sf.CHALLENGE_ATTEMPTS - 1):
        with pytest.raises(Unauthorized, match="wrong code"):
            _second(services, step.challenge, "000000")
    with pytest.raises(Unauthorized, match="too many wrong codes"):
        _second(services, step.challenge, "000000")
    with pytest.raises(Unauthorized, match="expired"):
        _second(services, step.challenge, totp.code_at(secret, clock()))
    step = _password(services)
    clock.advance(seconds=sf.CHALLENGE_TTL.total_seconds() + 1)
    with pytest.raises(Unauthorized, match="expired"):
        _second(services, step.challenge, totp.code_at(secret, clock()))
    step = _password(services)
    services.update_manager(UpdateManager(LOGIN, password="another-password-2"), admin)
    with pytest.raises(Unauthorized, match="expired"):
        _second(services, step.challenge, totp.code_at(secret, clock()))


def test_turning_it_off_and_new_recovery_codes_need_a_proof(
    services: Services, desk: Actor, clock: FakeClock
) -> None:
    secret, codes = _enrol(services, desk, clock)
    with pytest.raises(Unauthorized):
        services.disable_second_factor(desk, "wrong-password")
    fresh = services.regenerate_recovery_codes(desk, totp.code_at(secret, clock()))
    assert set(fresh).isdisjoint(codes)
    with pytest.raises(Unauthorized):
        services.disable_second_factor(desk, codes[0])  # the old codes stopped working
    assert services.disable_second_factor(desk, PASSWORD)
    assert not services.second_factor_status(desk).enabled
    assert _password(services).pair is not None


def test_an_administrator_resets_a_managers_second_factor_audited(
    services: Services, desk: Actor, clock: FakeClock, admin: Actor
) -> None:
    _enrol(services, desk, clock)
    with pytest.raises(PermissionDenied):
        services.reset_second_factor(LOGIN, desk)
    assert services.reset_second_factor(LOGIN, admin) is True
    assert services.reset_second_factor(LOGIN, admin) is False
    assert _password(services).pair is not None
    trail = services.query_audit(AuditQuery(action="manager.second_factor_reset"), admin)
    assert [r.entity_id for r in trail] == [str(LOGIN)]


def test_a_login_written_with_leading_zeros_counts_on_the_same_lockout(
    services: Services, desk: Actor, clock: FakeClock
) -> None:
    services.config = replace(services.config, lockout=LockoutPolicy(failures=2))
    for login in ("01000", "001000"):
        with pytest.raises(Unauthorized, match="wrong login or password"):
            services.sign_in_console(SignIn(login, "wrong-password", TTL, TTL), _anonymous())
    with pytest.raises(Unauthorized, match="too many failed sign-ins"):
        _password(services)


def test_turning_off_what_is_not_on_is_refused_without_counting(
    services: Services, desk: Actor
) -> None:
    services.config = replace(services.config, lockout=LockoutPolicy(failures=1))
    with pytest.raises(Conflict):
        services.disable_second_factor(desk, "anything")
    assert _password(services).pair is not None  # no failure was counted


def test_a_secret_the_keyring_cannot_open_is_refused_and_an_administrator_resets_it(
    services: Services, desk: Actor, clock: FakeClock, admin: Actor, runtime: Runtime
) -> None:
    _enrol(services, desk, clock)
    with runtime.storage.engine.begin() as conn:  # a database writer moves the sealed text
        conn.execute(tables.manager_second_factors.update().values(sealed_secret="v1:x:AAAA"))
    with pytest.raises(Conflict, match="reset"):
        _second(services, _password(services).challenge, "123456")
    services.reset_second_factor(LOGIN, admin)
    services.unlock_manager(LOGIN, admin)
    assert _password(services).pair is not None
