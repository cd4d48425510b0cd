"""The shared cast of users and the real-service fixtures (PostgreSQL, Redis, Celery workers)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import Client
from hypothesis import settings

from core.models import ApiToken, User
from core.services import create_user
from tests.services import (  # noqa: F401  (fixtures)
    celery_worker,
    requires_services,
    services_available,
)

# Property tests are derandomised so that a CI run is reproducible; HYPOTHESIS_PROFILE=explore
# searches afresh (e.g. nightly).
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CAST = {
    "safety": ("safety", []),
    "rso": ("leadership", ["RSO"]),
    "ceo": ("leadership", ["CEO"]),
    "auditor": ("auditor", []),
    "admin_user": ("admin", []),
    "pipeline": ("pipeline", []),
}


def _allow_test_flush(connection: Any, allowed: bool) -> None:
    """The test-only switch that lets TransactionTestCase empty append-only tables."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET rsp.allow_test_flush = '{'on' if allowed else 'off'}'")
    elif connection.vendor == "sqlite":
        value = 1 if allowed else 0
        connection.connection.create_function("rsp_test_flush_allowed", 0, lambda: value)


def _on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
    _allow_test_flush(connection, True)
    connection._rsp_flush_switch = True


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """After migrating the test databases, install the flush escape in them (tests only).

    Migrations install guards without any escape (``audit.dbguard``); only here, in the test
    runner's own databases, does ``rsp.allow_test_flush`` get a meaning.
    """
    from tests.dbguard_escape import install_test_flush_escape

    with django_db_blocker.unblock():
        for conn in connections.all():
            install_test_flush_escape(conn)


@pytest.fixture(autouse=True, scope="session")
def _static_manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Collect the static files once per session with the production storage (hashed names and
    a manifest, as the Dockerfile does), so a page that names a file the manifest lacks fails
    here exactly as it would in production (DEBUG stays off)."""
    from django.conf import settings as django_settings
    from django.contrib.staticfiles.handlers import StaticFilesHandlerMixin
    from django.core.management import call_command
    from django.test import override_settings
    from django.views.static import serve

    def serve_collected(self: Any, request: Any) -> Any:
        # The live server (browser tests) serves the collected files, hashed names included,
        # as whitenoise does in production; Django's handler would look for source names only.
        return serve(
            request, self.file_path(request.path), document_root=django_settings.STATIC_ROOT
        )

    with (
        override_settings(STATIC_ROOT=tmp_path_factory.mktemp("staticfiles")),
        pytest.MonkeyPatch.context() as patch,
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
        patch.setattr(StaticFilesHandlerMixin, "serve", serve_collected)
        yield


@pytest.fixture(autouse=True, scope="session")
def _session_audit_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One audit key pair for the session, as a deployment has one: the worker's verification
    runs are signed with it and only signed runs count for the gate. Exported to the
    environment too, so Celery worker processes (tests.services) sign and check with the same
    key. A test that needs its own key uses ``tests.audit_support.audit_keys``."""
    from django.test import override_settings

    from audit.verify_bundle import generate_private_key_pem, load_private_key, public_key_pem

    keys = tmp_path_factory.mktemp("audit-keys")
    private, public = keys / "signing.pem", keys / "public.pem"
    private.write_bytes(generate_private_key_pem())
    public.write_bytes(public_key_pem(load_private_key(private)))
    saved = {
        name: os.environ.get(name) for name in ("AUDIT_SIGNING_KEY_FILE", "AUDIT_PUBLIC_KEY_FILE")
    }
    os.environ["AUDIT_SIGNING_KEY_FILE"], os.environ["AUDIT_PUBLIC_KEY_FILE"] = (
        str(private),
        str(public),
    )
    try:
        with override_settings(AUDIT_SIGNING_KEY_FILE=private, AUDIT_PUBLIC_KEY_FILE=public):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def verified_trail(db: None, request: pytest.FixtureRequest) -> Any:
    """The audit trail verified as the beat would (see ``tests.audit_support.verify_trail``):
    request it in every test, or fixture, that needs gates to trust the trail. A test that
    also uses ``audit_keys`` gets its run signed with that key (set up first)."""
    from tests.audit_support import verify_trail

    if "audit_keys" in request.fixturenames:
        request.getfixturevalue("audit_keys")
    return verify_trail()


@pytest.fixture(autouse=True, scope="session")
def _test_flush_switch() -> Iterator[None]:
    """Turn the switch on for every test connection (the app never sets it)."""
    connection_created.connect(_on_connect, dispatch_uid="tests-allow-flush")
    yield
    connection_created.disconnect(dispatch_uid="tests-allow-flush")


@pytest.fixture(autouse=True)
def _no_live_inputs_across_tests() -> Iterator[None]:
    """Each test starts without the live gate's cached inputs: a rolled-back test's ids can
    come back (SQLite), and with them a stamp another test's inputs were cached under. The
    same for the evidence lenses kept per policy snapshot and view: a test that changes the evidence
    rule's version leaves lenses made under it (a snapshot of a reused id and the same text
    is the same object)."""
    from evaluations.summary import forget_lenses
    from governance.adapter import forget_live_inputs

    forget_live_inputs()
    forget_lenses()
    yield
    forget_live_inputs()
    forget_lenses()


@pytest.fixture(autouse=True)
def _flush_switch_on_existing_connections(_test_flush_switch: None, django_db_blocker: Any) -> None:
    """Connections opened before the signal was connected get the switch too (once each)."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not getattr(conn, "_rsp_flush_switch", False):
            with django_db_blocker.unblock():
                _allow_test_flush(conn, True)


@contextmanager
def guards_enforced(alias: str = "default") -> Iterator[None]:
    """Run a block with the append-only guards exactly as in production."""
    conn = connections[alias]
    conn.ensure_connection()
    _allow_test_flush(conn, False)
    try:
        yield
    finally:
        _allow_test_flush(conn, True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if services_available():
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL and Redis: start them and set DATABASE_URL=postgres://... "
        "and REDIS_URL=redis://... (see README, 'Running on PostgreSQL and Redis')"
    )
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


def _make(username: str) -> User:
    role, titles = CAST[username]
    return create_user(username, role, titles=titles, password=f"{username}-password-123")


@pytest.fixture
def safety(db: None) -> User:
    return _make("safety")


@pytest.fixture
def rso(db: None) -> User:
    return _make("rso")


@pytest.fixture
def ceo(db: None) -> User:
    return _make("ceo")


@pytest.fixture
def auditor(db: None) -> User:
    return _make("auditor")


@pytest.fixture
def admin_user(db: None) -> User:
    return _make("admin_user")


@pytest.fixture
def pipeline(db: None) -> User:
    return _make("pipeline")


@pytest.fixture
def outsider(db: None) -> User:
    """A signed-in account with no role at all."""
    return User.objects.create_user("outsider", password="outsider-password-123")


def set_email(users: Any, email: str) -> None:
    """Give the accounts ``users`` (one, or a queryset) the address ``email`` as the
    application does (a save, recorded as ``user.email``): an address written in SQL instead
    does not match the trail, and signing and reset links refuse it (``core.credentials``)."""
    from core.models import User as UserModel

    for user in [users] if isinstance(users, UserModel) else list(users):
        fresh = UserModel.objects.get(pk=user.pk)
        fresh.email = email
        fresh.save(update_fields=["email"])


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def on_own_connection(call: Callable[[], object]) -> threading.Thread:
    """``call`` started in a thread, on that thread's own database connection (closed at its
    end)."""

    def run() -> None:
        try:
            call()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@contextmanager
def while_held(
    hold: Callable[[Callable[[], None]], object], wait: Callable[[], object]
) -> Iterator[None]:
    """``hold(keep)`` and ``wait()``, each on its own connection: ``hold`` takes what it holds
    and calls ``keep()``, which returns once the block is left; ``wait`` starts once it holds.
    The block runs while both are in flight; leaving it releases ``hold`` and joins both."""
    held, release = threading.Event(), threading.Event()

    def keep() -> None:
        held.set()
        assert release.wait(30), "the block never released the holder"

    def holder() -> None:
        try:
            hold(keep)
        finally:
            held.set()  # a holder that failed first must not keep the block waiting

    threads = [on_own_connection(holder)]
    try:
        assert held.wait(30), "the holder never held"
        threads.append(on_own_connection(wait))
        yield
    finally:
        release.set()
        for thread in threads:
            thread.join(60)


def waiting_on_a_lock(query_part: str = "") -> bool:
    """Whether another session of this database waits on a lock (running a statement whose
    text, as far as PostgreSQL shows it, holds ``query_part``), polled for up to 30 s.
    PostgreSQL only."""
    deadline = time.monotonic() + 30
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
                " AND strpos(query, %s) > 0",
                [query_part],
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


def bearer(user: User, scopes: list[str] | None = None, name: str | None = None) -> Client:
    """A client that authenticates with a fresh API token (no session cookie)."""
    import uuid

    from rsp_portal.authz import allowed_scopes

    name = name or f"test-{uuid.uuid4().hex[:8]}"
    _, text = ApiToken.issue(user, name, scopes or allowed_scopes(user))
    return Client(HTTP_AUTHORIZATION=f"Bearer {text}")
