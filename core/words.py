"""Words for codes: the one place pages (and e-mails) turn an audit action, an object type, a
gate's cause or an enum value into what people read.

Codes stay codes where they are identifiers people type or filter by (the trail's hashed body,
the API); everywhere else a template uses the filters in ``core.templatetags.portal``, which
call these functions. A code missing from the tables still reads as words (``suite_run.fail``
→ "Suite run failed"), never as the raw string.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.utils import timezone

#: Audit actions (and the causes of gate transitions, which name the action that caused them).
ACTIONS: dict[str, str] = {
    "audit.witness": "Log head witnessed",
    "audit.cosignature": "Log head cosigned by a witness",
    "beat.task.changed": "Periodic task changed",
    "beat.task.deleted": "Periodic task deleted",
    "checkpoint.report": "Checkpoint registered",
    "commitment.fulfil": "Commitment fulfilled",
    "commitment.remind": "Commitment reminder sent",
    "decision.approve": "Decision approval signed",
    "decision.approved": "Decision approved",
    "decision.expired": "Decision expired",
    "decision.reject": "Decision rejected",
    "decision.rejected": "Decision rejected",
    "decision.request": "Decision requested",
    "decision.stale": "Decision went stale",
    "decision.status": "Decision status changed",
    "gate.mismatch": "Stored gate did not match",
    "gate.sweep": "Gates re-checked",
    "gate.tampered": "Stored gate was altered",
    "gate.transition": "Gate changed",
    "import.create": "Evaluation log imported",
    "incident.close": "Incident closed",
    "incident.open": "Incident opened",
    "incident.publicity": "Incident publicity changed",
    "lineage.confirm": "Lineage confirmed",
    "mapping.set": "Metric mapping remembered",
    "model.create": "Model registered",
    "model.lineage_confirm": "Model lineage confirmed",
    "model.lineage": "Lineage changed",
    "model.pause": "Model paused",
    "model.publicity": "Model publicity changed",
    "noncompliance.receive": "Noncompliance report received",
    "noncompliance.status": "Noncompliance report status changed",
    "outbox.send_again": "Failed delivery sent again",
    "policy.activate": "Policy activated",
    "policy.activation.approve": "Policy activation signed",
    "policy.activation.reject": "Policy activation rejected",
    "policy.activation.request": "Policy activation requested",
    "policy.activation.status": "Policy activation status changed",
    "policy.export": "Policy exported",
    "policy.load": "Policy loaded",
    "policy.self_assessment": "Self-assessment recorded",
    "precaution.lift": "Precaution lifted",
    "precaution.record": "Precautionary determination recorded",
    "report.create": "Report drafted",
    "report.publish": "Report published",
    "report.revise": "Report revised",
    "report.sign": "Report signed",
    "result.correct": "Result corrected",
    "result.correction_confirm": "Result correction confirmed",
    "result.correction_reject": "Result correction refused",
    "result.correction_request": "Result correction proposed",
    "result.create": "Result logged",
    "review.approve": "External review access approved",
    "review.end": "External review access ended",
    "review.grant": "External review access granted",
    "review.record": "External review recorded",
    "review.refuse": "External review access refused",
    "review.start": "External review access began",
    "safeguard.record": "Safeguard status recorded",
    "subscription.create": "Notification subscription added",
    "subscription.delete": "Notification subscription removed",
    "subscription.update": "Notification subscription changed",
    "suite.create": "Suite defined",
    "suite.delete": "Suite deleted",
    "suite.update": "Suite changed",
    "suite_run.cancel": "Suite run cancelled",
    "suite_run.fail": "Suite run failed",
    "suite_run.request": "Suite run requested",
    "suite_run.retry": "Suite run retried",
    "suite_run.start": "Suite run started",
    "suite_run.succeed": "Suite run finished",
    "threshold.crossed": "Capability threshold crossed",
    "title.grant": "Sign-off title granted",
    "title.grant.propose": "Sign-off title proposed",
    "title.grant.refuse": "Sign-off title refused",
    "title.revoke": "Sign-off title revoked",
    "token.issue": "API token issued",
    "token.revoke": "API token revoked",
    "user.activate": "Account reactivated",
    "user.create": "Account created",
    "user.credential": "Signer's credentials changed",
    "user.deactivate": "Account deactivated",
    "user.password": "Password changed",
    "user.email": "E-mail address changed",
    "user.password_reset": "Password reset",
    "user.password_reset_sent": "Password reset link sent",
    "user.password_set": "Password set",
    "user.role": "Role changed",
    "user.time_zone": "Time zone changed",
    "warning.crossed": "Early-warning line reached",
    # Causes of gate transitions that are not audit actions.
    "sweep": "Periodic re-check",
    "time": "Time passed",
}

#: Object types of the trail (``app_label.model``).
OBJECT_TYPES: dict[str, str] = {
    "accountability.commitment": "commitment",
    "accountability.incident": "incident",
    "accountability.noncompliancereport": "noncompliance report",
    "accountability.report": "report",
    "audit.checkpoint": "signed checkpoint",
    "core.apitoken": "API token",
    "core.outboxmessage": "delivery",
    "core.titlegrant": "title grant",
    "core.user": "account",
    "evaluations.aimodel": "AI model",
    "evaluations.checkpoint": "checkpoint",
    "evaluations.evalresult": "result",
    "evaluations.evalsuite": "suite",
    "evaluations.importrecord": "import",
    "evaluations.suiterun": "suite run",
    "governance.pause": "pause",
    "governance.precaution": "precaution",
    "governance.safeguardrecord": "safeguard record",
    "governance.scalingdecision": "decision",
    "governance.subscription": "notification subscription",
    "policies.policyactivation": "policy activation",
    "policies.policyversion": "policy version",
    "suites.evalsuite": "suite",
    "suites.suiterun": "suite run",
}

#: Enum values shown on pages: tiers, triggers, policy fields of a diff.
CODES: dict[str, str] = {
    "early_warning": "early warning",
    "red_line": "red line",
    "ongoing_assessment": "ongoing assessment",
    "tracked": "tracked",
    "baseline_level": "baseline level",
    "baseline_standards": "baseline standards",
    "effective_compute_multiple": "effective-compute multiple",
    "months_between_assessments": "months between assessments",
    "safeguard_reapproval_months": "safeguard re-approval period (months)",
    "warning_behaviour": "warning behaviour",
    "uncertainty_z": "uncertainty allowance (standard errors)",
    "signoff_titles": "sign-off titles",
    "advisory_titles": "advisory titles",
    "red_lines": "red lines",
    "early_warnings": "early warnings",
    "requires.scaling": "standards required to scale",
    "requires.deployment": "standards required to deploy",
    "higher_is_more_capable": "direction",
    "min_samples": "minimum samples",
    "deadline_days": "deadline (days)",
    "decision_requested": "when a decision is requested",
    "crossing": "when a threshold is crossed",
    "deployment": "when a model is deployed",
    "report_signed": "when a report is signed",
    "periodic": "periodically",
    "require_safeguards": "require safeguards",
    "notify": "notify only",
}

_VERBS = {
    "create": "created",
    "update": "changed",
    "delete": "deleted",
    "request": "requested",
    "approve": "approved",
    "reject": "rejected",
    "fail": "failed",
    "start": "started",
    "cancel": "cancelled",
    "record": "recorded",
    "status": "status changed",
}


def _plain(code: str) -> str:
    return code.replace("_", " ").replace(".", " ").strip()


def action_words(action: str) -> str:
    """An audit action (or a transition's cause code) in words."""
    if action in ACTIONS:
        return ACTIONS[action]
    subject, _, verb = action.rpartition(".")
    if not subject:
        return _plain(action).capitalize()
    return f"{_plain(subject)} {_VERBS.get(verb, _plain(verb))}".capitalize()


def object_words(object_type: str) -> str:
    """An object type of the trail (``evaluations.aimodel``) in words (``AI model``)."""
    return OBJECT_TYPES.get(object_type) or _plain(object_type.rpartition(".")[2])


_CAUSE = re.compile(r"^(?P<code>[a-z_]+(?:\.[a-z_]+)+|sweep|time)\b\s*(?P<rest>.*)$")


def cause_words(cause: str) -> str:
    """What caused a gate transition (``result.create #1, #2``) in words
    (``Result logged #1, #2``)."""
    match = _CAUSE.match(cause or "")
    if match is None:
        return cause
    rest = match["rest"]
    return f"{action_words(match['code'])}{' ' + rest if rest else ''}"


def code_words(code: object) -> str:
    """An enum value or a policy field in words (``ongoing_assessment`` → ``ongoing
    assessment``); a value that is not a code is returned as it is."""
    text = "" if code is None else str(code)
    if text in CODES:
        return CODES[text]
    if re.fullmatch(r"[a-z][a-z_]*(\.[a-z_]+)*", text):
        return _plain(text)
    return text


def count(number: int, singular: str, plural: str = "") -> str:
    """``1 checkpoint``, ``2 checkpoints`` (``plural`` for irregular nouns: person, people)."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def moment(value: datetime) -> str:
    """The one way pages write a moment: ``2026-11-28 19:21 UTC``, in the current time zone
    (the person's own, activated per request) with the zone's name."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()
