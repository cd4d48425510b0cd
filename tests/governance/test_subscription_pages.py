"""The notifications page: where notifications go, what was sent, and (administrators) the
subscriptions each channel sends to. Roles are checked by ``rsp_portal.authz``."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from governance import notifications
from governance.models import Channel, Notification, Subscription
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.example/services/T000/B000/very-secret-token"


def test_people_see_the_subscriptions_without_their_secrets(safety, admin_user):
    notifications.save_subscription(
        Subscription(name="ops", kind=Channel.SLACK, target=SLACK), actor=admin_user
    )
    notifications.save_subscription(
        Subscription(
            name="siem", kind=Channel.WEBHOOK, target="https://siem.example/in", secret="s3cr3t"
        ),
        actor=admin_user,
    )
    page = client_for(safety).get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ops" in html and "hooks.slack.example" in html and "Slack incoming webhook" in html
    assert "very-secret-token" not in html and "s3cr3t" not in html
    assert "Add a subscription" not in html  # safety may read, not manage


def test_only_an_administrator_may_add_one(safety, rso):
    for user in (safety, rso):
        client = client_for(user)
        assert client.get("/notifications/new/").status_code == 403
        response = client.post("/notifications/new/", {"name": "x", "kind": "slack"})
        assert response.status_code == 403
    assert not Subscription.objects.exists()


def test_an_administrator_adds_a_slack_subscription_audited(admin_user):
    client = client_for(admin_user)
    response = client.post(
        "/notifications/new/",
        {"name": "ops", "kind": "slack", "target": SLACK, "events": ["threshold.crossed"]},
    )
    assert response.status_code == 302
    sub = Subscription.objects.get(name="ops")
    assert sub.events == ["threshold.crossed"] and sub.active is False  # unticked box
    entry = AuditEntry.objects.filter(action="subscription.create").get()
    assert "very-secret-token" not in bytes(entry.body).decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "slack", "target": "http://hooks.slack.example/x"}, "target", "https"),
        ({"kind": "webhook", "target": "https://siem.example/in"}, "secret", "shared secret"),
        ({"kind": "email", "target": "not an address"}, "target", "e-mail"),
        ({"kind": "pigeon", "target": "https://x.example"}, "kind", "valid choice"),
    ],
)
def test_a_bad_subscription_is_shown_again_with_the_field_named(admin_user, data, field, message):
    response = client_for(admin_user).post("/notifications/new/", {"name": "bad", **data})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not Subscription.objects.exists()


def test_an_edit_keeps_the_stored_secret_when_left_blank(admin_user):
    # Hyphenated, so a page's random CSRF token (letters and digits) can never contain it.
    secret = "stored-webhook-secret"
    sub = notifications.save_subscription(
        Subscription(name="siem", kind=Channel.WEBHOOK, target="https://a.example", secret=secret),
        actor=admin_user,
    )
    client = client_for(admin_user)
    page = client.get(f"/notifications/{sub.pk}/")
    assert page.status_code == 200 and secret not in page.content.decode()
    response = client.post(
        f"/notifications/{sub.pk}/",
        {"name": "siem", "kind": "webhook", "target": "https://b.example", "active": "on"},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.target == "https://b.example" and sub.secret == secret
    assert AuditEntry.objects.filter(action="subscription.update").count() == 1


def test_a_subscription_that_sent_something_is_kept_and_one_that_did_not_is_removed(admin_user):
    client = client_for(admin_user)
    unused = notifications.save_subscription(
        Subscription(name="unused", kind=Channel.EMAIL, target="a@example.org"), actor=admin_user
    )
    used = notifications.save_subscription(
        Subscription(name="used", kind=Channel.EMAIL, target="b@example.org"), actor=admin_user
    )
    Notification.objects.create(event="model.paused", payload={}, subscription=used)
    assert client.post(f"/notifications/{used.pk}/delete/").status_code == 302
    assert Subscription.objects.filter(pk=used.pk).exists()
    assert client.post(f"/notifications/{unused.pk}/delete/").status_code == 302
    assert not Subscription.objects.filter(pk=unused.pk).exists()
    assert AuditEntry.objects.filter(action="subscription.delete").count() == 1
    assert client.get(f"/notifications/{unused.pk}/delete/").status_code == 405


def test_the_page_takes_the_same_queries_for_1_and_30_notifications(safety, admin_user):
    sub = notifications.save_subscription(
        Subscription(name="ops", kind=Channel.EMAIL, target="ops@example.org"), actor=admin_user
    )
    client = client_for(safety)

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/notifications/").status_code == 200
        return len(queries.captured_queries)

    Notification.objects.create(event="model.paused", payload={}, subscription=sub)
    one = count()
    for _ in range(29):
        Notification.objects.create(event="model.paused", payload={}, subscription=sub)
    assert count() == one


def test_the_navigation_links_the_page_for_people(safety):
    assert 'href="/notifications/"' in client_for(safety).get("/").content.decode()
