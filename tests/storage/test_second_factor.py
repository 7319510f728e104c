"""A manager's TOTP second factor on both engines: enrolment is confirmed by a first code and
stores the secret sealed; the console's sign-in then needs a code after the password; a code is
accepted once; a recovery code works once; wrong codes count toward the sign-in lockout and
toward the waiting sign-in's own attempts; a waiting sign-in expires and dies with a new
password; turning it off needs a proof; an administrator's reset is audited."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.access import second_factor as sf
from brokerplane.core.access import totp
from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.backoffice.commands import SignIn
from brokerplane.core.errors import Conflict, PermissionDenied, Unauthorized, ValidationError
from brokerplane.core.kinds import Dialect
from brokerplane.storage import tables
from tests.unit.fakes import FakeClock

LOGIN = 1000
PASSWORD = "desk-password-1"
ADDRESS = "192.0.2.7"
TTL = timedelta(minutes=30)


@pytest.fixture
def desk(services: Application, admin: Actor) -> Actor:
    services.create_manager(
        CreateManager(LOGIN, "desk", PASSWORD, frozenset({"users:read"})), admin
    )
    return Actor(
        manager_login=LOGIN, scopes=frozenset({"users:read"}), dialect=Dialect.CONSOLE, ip=ADDRESS
    )


def _anonymous() -> Actor:
    return Actor(manager_login=None, dialect=Dialect.CONSOLE, ip=ADDRESS)


def _secret(enrolment: totp.Enrolment) -> bytes:
    text = enrolment.secret
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _enrol(services: Application, desk: Actor, clock: FakeClock) -> tuple[bytes, list[str]]:
    secret = _secret(services.start_second_factor(desk, PASSWORD))
    codes = services.confirm_second_factor(desk, totp.code_at(secret, clock()), PASSWORD)
    clock.advance(seconds=totp.PERIOD)  # the confirming code is used: the next step's is new
    return secret, codes


def _password(services: Application, password: str = PASSWORD) -> sf.FirstStep:
    return services.sign_in_console(SignIn(str(LOGIN), password, TTL, TTL), _anonymous())


def _second(services: Application, challenge: str | None, code: str) -> object:
    assert challenge is not None
    return services.sign_in_second_step(sf.SecondStep(challenge, code, TTL, TTL), _anonymous())


def test_without_a_second_factor_the_password_gives_a_session(
    services: Application, desk: Actor
) -> None:
    step = _password(services)
    assert step.pair is not None and step.challenge is None
    assert services.authenticate_backoffice_token(step.pair.access_token).id == LOGIN


def test_enrolment_is_on_only_after_a_first_code_and_stores_the_secret_sealed(
    services: Application, desk: Actor, clock: FakeClock, runtime: Runtime
) -> None:
    enrolment = services.start_second_factor(desk, PASSWORD)
    assert enrolment.uri.startswith("otpauth://totp/brokerplane%3A1000?secret=")
    state = services.second_factor_status(desk)
    assert not state.enabled and state.pending == enrolment  # shown again until confirmed
    assert _password(services).pair is not None  # not on yet
    secret = _secret(enrolment)
    with pytest.raises(ValidationError):
        services.confirm_second_factor(
            desk, totp.code_at(secret, clock() + timedelta(hours=1)), PASSWORD
        )
    codes = services.confirm_second_factor(desk, totp.code_at(secret, clock()), PASSWORD)
    assert len(codes) == 10 and len(set(codes)) == 10
    state = services.second_factor_status(desk)
    assert state.enabled and state.pending is None and state.recovery_left == 10
    with runtime.storage.engine.connect() as conn:
        stored = conn.execute(select(tables.manager_second_factors)).one()._mapping
        hashes = conn.execute(select(tables.manager_recovery_codes.c.code_hash)).scalars().all()
    assert enrolment.secret not in stored["sealed_secret"]
    assert not any(c.replace("-", "") in h for c in codes for h in hashes)
    with pytest.raises(Conflict):
        services.start_second_factor(desk, PASSWORD)  # on: turn it off first
    trail = services.query_audit(
        AuditQuery(action="manager.second_factor_enabled"), services_admin()
    )
    assert [r.entity_id for r in trail] == [str(LOGIN)]


def services_admin() -> Actor:
    from brokerplane.core.actor import system_actor

    return system_actor()


def test_sign_in_needs_a_code_after_the_password_and_a_code_works_once(
    services: Application, desk: Actor, clock: FakeClock
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


def test_a_recovery_code_signs_in_once(
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    _, codes = _enrol(services, desk, clock)
    _second(services, _password(services).challenge, codes[3].upper())
    assert services.second_factor_status(desk).recovery_left == 9
    with pytest.raises(Unauthorized, match="wrong code"):
        _second(services, _password(services).challenge, codes[3])


def test_wrong_codes_count_toward_the_same_lockout_as_wrong_passwords(
    services: Application, desk: Actor, clock: FakeClock
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
    services: Application, desk: Actor, clock: FakeClock, admin: Actor
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
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    secret, codes = _enrol(services, desk, clock)
    with pytest.raises(Unauthorized):
        services.disable_second_factor(desk, "wrong-password")
    with pytest.raises(Unauthorized):  # the password is no proof of the second factor
        services.disable_second_factor(desk, PASSWORD)
    with pytest.raises(Unauthorized):
        services.regenerate_recovery_codes(desk, PASSWORD)
    fresh = services.regenerate_recovery_codes(desk, totp.code_at(secret, clock()))
    assert set(fresh).isdisjoint(codes)
    with pytest.raises(Unauthorized):
        services.disable_second_factor(desk, codes[0])  # the old codes stopped working
    assert services.disable_second_factor(desk, fresh[0])
    assert not services.second_factor_status(desk).enabled
    assert _password(services).pair is not None


def test_an_administrator_resets_a_managers_second_factor_audited(
    services: Application, desk: Actor, clock: FakeClock, admin: Actor
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
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    services.config = replace(services.config, lockout=LockoutPolicy(failures=2))
    for login in ("01000", "001000"):
        with pytest.raises(Unauthorized, match="wrong login or password"):
            services.sign_in_console(SignIn(login, "wrong-password", TTL, TTL), _anonymous())
    with pytest.raises(Unauthorized, match="too many failed sign-ins"):
        _password(services)


def test_turning_off_what_is_not_on_is_refused_without_counting(
    services: Application, desk: Actor
) -> None:
    services.config = replace(services.config, lockout=LockoutPolicy(failures=1))
    with pytest.raises(Conflict):
        services.disable_second_factor(desk, "anything")
    assert _password(services).pair is not None  # no failure was counted


def test_a_secret_the_keyring_cannot_open_is_refused_and_an_administrator_resets_it(
    services: Application, desk: Actor, clock: FakeClock, admin: Actor, runtime: Runtime
) -> None:
    _enrol(services, desk, clock)
    with runtime.storage.engine.begin() as conn:  # a database writer moves the sealed text
        conn.execute(tables.manager_second_factors.update().values(sealed_secret="v1:x:AAAA"))
    with pytest.raises(Conflict, match="reset"):
        _second(services, _password(services).challenge, "123456")
    services.reset_second_factor(LOGIN, admin)
    services.unlock_manager(LOGIN, admin)
    assert _password(services).pair is not None


# ---- re-authentication, bounded enrolment, and what an attacker would try ---------------------


def test_enrolment_asks_for_the_password_again_and_a_wrong_one_counts_toward_the_lockout(
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    services.config = replace(services.config, lockout=LockoutPolicy(failures=3))
    for _ in range(2):  # a stolen session alone draws no secret
        with pytest.raises(Unauthorized, match="wrong login or password"):
            services.start_second_factor(desk, "not-the-password")
    assert services.second_factor_status(desk).pending is None
    secret = _secret(services.start_second_factor(desk, PASSWORD))  # clears the counters
    for _ in range(2):  # nor switches on a secret waiting for its first code
        with pytest.raises(Unauthorized, match="wrong login or password"):
            services.confirm_second_factor(desk, totp.code_at(secret, clock()), "")
    with pytest.raises(Unauthorized, match="wrong login or password"):
        services.confirm_second_factor(desk, totp.code_at(secret, clock()), "guess")
    with pytest.raises(Unauthorized, match="too many failed sign-ins"):  # one lockout
        _password(services)
    assert not services.second_factor_status(desk).enabled
    clock.advance(seconds=60)
    assert services.confirm_second_factor(desk, totp.code_at(secret, clock()), PASSWORD)
    assert services.second_factor_status(desk).enabled


def test_wrong_first_codes_are_bounded_then_the_secret_is_discarded(
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    secret = _secret(services.start_second_factor(desk, PASSWORD))
    wrong = "000000" if totp.code_at(secret, clock()) != "000000" else "111111"
    for _ in range(sf.ENROLMENT_ATTEMPTS - 1):
        with pytest.raises(ValidationError, match="does not match"):
            services.confirm_second_factor(desk, wrong, PASSWORD)
    with pytest.raises(Conflict, match="discarded"):
        services.confirm_second_factor(desk, wrong, PASSWORD)
    state = services.second_factor_status(desk)
    assert not state.enabled and state.pending is None
    with pytest.raises(Conflict, match="start again"):  # the right code of the old secret
        services.confirm_second_factor(desk, totp.code_at(secret, clock()), PASSWORD)
    assert _password(services).pair is not None  # still off
    trail = services.query_audit(
        AuditQuery(action="manager.second_factor_enrolment_discarded"), services_admin()
    )
    assert [r.after for r in trail] == [{"method": "totp", "reason": "too many wrong codes"}]
    again = _secret(services.start_second_factor(desk, PASSWORD))  # a new one, 5 tries again
    for _ in range(sf.ENROLMENT_ATTEMPTS - 1):
        with pytest.raises(ValidationError):
            services.confirm_second_factor(desk, wrong, PASSWORD)
    assert services.confirm_second_factor(desk, totp.code_at(again, clock()), PASSWORD)


def test_a_waiting_enrolment_expires_and_dies_with_a_new_password(
    services: Application, desk: Actor, clock: FakeClock, admin: Actor
) -> None:
    secret = _secret(services.start_second_factor(desk, PASSWORD))
    clock.advance(seconds=sf.ENROLMENT_TTL.total_seconds() + 1)
    assert services.second_factor_status(desk).pending is None
    with pytest.raises(Conflict, match="start again"):
        services.confirm_second_factor(desk, totp.code_at(secret, clock()), PASSWORD)
    secret = _secret(services.start_second_factor(desk, PASSWORD))
    services.update_manager(UpdateManager(LOGIN, password="another-password-2"), admin)
    with pytest.raises(Conflict, match="start again"):
        services.confirm_second_factor(desk, totp.code_at(secret, clock()), "another-password-2")


def test_an_administrators_reset_ends_the_managers_sessions_and_waiting_sign_ins(
    services: Application, desk: Actor, clock: FakeClock, admin: Actor
) -> None:
    secret, _ = _enrol(services, desk, clock)
    session = _second(services, _password(services).challenge, totp.code_at(secret, clock()))
    waiting = _password(services).challenge
    services.reset_second_factor(LOGIN, admin)
    with pytest.raises(Unauthorized):
        services.authenticate_backoffice_token(session.access_token)  # type: ignore[attr-defined]
    clock.advance(seconds=totp.PERIOD)
    with pytest.raises(Unauthorized, match="expired"):
        _second(services, waiting, totp.code_at(secret, clock()))


def test_recovery_codes_are_stored_with_a_salt_of_their_own(
    services: Application, desk: Actor, clock: FakeClock, runtime: Runtime
) -> None:
    import hashlib

    _, codes = _enrol(services, desk, clock)
    with runtime.storage.engine.connect() as conn:
        hashes = conn.execute(select(tables.manager_recovery_codes.c.code_hash)).scalars().all()
    salts = {h.split("$")[0] for h in hashes}
    assert len(hashes) == 10 and len(salts) == 10
    for code in codes:  # no unsalted hash of a code is stored
        raw = code.replace("-", "")
        plain = hashlib.sha256(f"brokerplane recovery {LOGIN}\n{raw}".encode()).hexdigest()
        assert plain not in hashes and hashlib.sha256(raw.encode()).hexdigest() not in hashes


def _together(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at once, each in a thread of its own; each one's answer or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as err:  # the answer under test
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_recovery_code_sent_twice_at_once_signs_in_once(
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    _, codes = _enrol(services, desk, clock)
    first, second = _password(services).challenge, _password(services).challenge
    results = _together(
        lambda: _second(services, first, codes[0]), lambda: _second(services, second, codes[0])
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert services.second_factor_status(desk).recovery_left == 9


def test_one_code_sent_twice_at_once_signs_in_once(
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    secret, _ = _enrol(services, desk, clock)
    code = totp.code_at(secret, clock())
    first, second = _password(services).challenge, _password(services).challenge
    results = _together(
        lambda: _second(services, first, code), lambda: _second(services, second, code)
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1, results


def test_two_recovery_codes_at_once_on_one_waiting_sign_in_use_up_only_the_winners(
    services: Application, desk: Actor, clock: FakeClock
) -> None:
    _, codes = _enrol(services, desk, clock)
    challenge = _password(services).challenge
    results = _together(
        lambda: _second(services, challenge, codes[0]),
        lambda: _second(services, challenge, codes[1]),
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert services.second_factor_status(desk).recovery_left == 9  # the loser's code still works
    loser = codes[1] if not isinstance(results[0], Exception) else codes[0]
    assert _second(services, _password(services).challenge, loser) is not None


def test_no_secret_code_or_password_reaches_the_audit_trail_or_the_logs(
    services: Application,
    desk: Actor,
    clock: FakeClock,
    admin: Actor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import json
    import logging

    caplog.set_level(logging.DEBUG)
    with pytest.raises(Unauthorized):
        services.start_second_factor(desk, "wrong-password-9")
    enrolment = services.start_second_factor(desk, PASSWORD)
    secret = _secret(enrolment)
    with pytest.raises(ValidationError):
        services.confirm_second_factor(desk, "000000", PASSWORD)
    first_code = totp.code_at(secret, clock())
    codes = services.confirm_second_factor(desk, first_code, PASSWORD)
    clock.advance(seconds=totp.PERIOD)
    used = [totp.code_at(secret, clock())]
    _second(services, _password(services).challenge, used[0])
    _second(services, _password(services).challenge, codes[0])
    with pytest.raises(Unauthorized):
        _second(services, _password(services).challenge, "wrong-proof-7")
    clock.advance(seconds=totp.PERIOD)
    used.append(totp.code_at(secret, clock()))
    fresh = services.regenerate_recovery_codes(desk, used[-1])
    services.disable_second_factor(desk, fresh[0])
    services.start_second_factor(desk, PASSWORD)
    services.reset_second_factor(LOGIN, admin)
    trail = services.query_audit(AuditQuery(entity_type="manager"), admin)
    actions = {r.action for r in trail}
    assert {
        "manager.second_factor_enrolment_started",
        "manager.second_factor_enabled",
        "manager.signed_in",
        "manager.recovery_code_used",
        "manager.recovery_codes_replaced",
        "manager.second_factor_disabled",
        "manager.second_factor_reset",
    } <= actions
    written = json.dumps([[r.before, r.after, r.extra] for r in trail], default=str).lower()
    written += caplog.text.lower()
    secrets_ = [
        enrolment.secret,
        secret.hex(),
        PASSWORD,
        "wrong-password-9",
        "wrong-proof-7",
        first_code,
        *used,
        *codes,
        *fresh,
    ]
    for secret_text in secrets_:
        for form in {secret_text.lower(), secret_text.lower().replace("-", "")}:
            assert form not in written, form
