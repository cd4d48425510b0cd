"""Changing a periodic task is an audited act.

The beat schedule lives in django-celery-beat's ``PeriodicTask`` rows, editable in the admin.
Disabling ``audit-checkpoint`` or the quick verification would quietly stop the proof, so every
change of what a task runs or when (enabled, task, schedule, arguments, expiry) and every
deletion appends an audit entry in the same transaction, naming the admin who made it. The
admin's bulk actions, which would otherwise bypass ``save()``, save task by task. Changes made
in SQL bypass this; verification then finds a critical task disabled (``audit.preconditions``).
Beat's own bookkeeping (last run, run count) is not audited.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import transaction

import audit

if TYPE_CHECKING:
    from django_celery_beat.models import PeriodicTask

    from rsp_portal.types import Actor

#: Fields whose change alters what beat runs or when.
WATCHED = (
    "enabled",
    "task",
    "interval_id",
    "crontab_id",
    "clocked_id",
    "solar_id",
    "one_off",
    "start_time",
    "expires",
    "args",
    "kwargs",
    "queue",
)

_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("beat_actor", default=None)


@contextmanager
def acting(user: Actor) -> Iterator[None]:
    """Attribute periodic-task changes in this block to ``user`` (the admin's request user)."""
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


def _value(obj: PeriodicTask, field: str) -> object:
    return _value_of(getattr(obj, field, None))


def before_save(sender: type[PeriodicTask], instance: PeriodicTask, **kwargs: object) -> None:
    if instance.pk is None:
        instance._rsp_before = None
        return
    old = sender._default_manager.filter(pk=instance.pk).values(*WATCHED).first()
    instance._rsp_before = old


def after_save(
    sender: type[PeriodicTask], instance: PeriodicTask, created: bool, **kwargs: object
) -> None:
    old = getattr(instance, "_rsp_before", None)
    if created or old is None:
        return
    changes = {
        field.removesuffix("_id"): [_value_of(old[field]), _value(instance, field)]
        for field in WATCHED
        if _value_of(old[field]) != _value(instance, field)
    }
    if not changes:
        return  # beat's bookkeeping (last_run_at, total_run_count)
    _record("beat.task.changed", instance, {"changes": changes})


def _value_of(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def after_delete(sender: type[PeriodicTask], instance: PeriodicTask, **kwargs: object) -> None:
    _record("beat.task.deleted", instance, {"enabled": instance.enabled})


def _record(action: str, task: PeriodicTask, data: dict[str, object]) -> None:
    with transaction.atomic():
        audit.record(
            action,
            ("django_celery_beat.periodictask", task.pk),
            {"name": task.name, "task": task.task, **data},
            actor=_actor.get() or "system",
        )


def connect() -> None:
    from django.db.models.signals import post_delete, post_save, pre_save
    from django_celery_beat.models import PeriodicTask

    pre_save.connect(before_save, sender=PeriodicTask, dispatch_uid="audit-beat-pre")
    post_save.connect(after_save, sender=PeriodicTask, dispatch_uid="audit-beat-post")
    post_delete.connect(after_delete, sender=PeriodicTask, dispatch_uid="audit-beat-delete")
