"""Who may do what: the one place that maps actions to roles and token scopes.

Views, API endpoints, templates and management commands ask ``can(user, action)`` or
``require(user, action)``; nothing else checks group membership. A request authenticated by an
API token is additionally limited to the token's scopes (``request.auth`` holds the token).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core import authority
from core.models import ApiToken, Role, TokenScope, User

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request
    from rest_framework.views import APIView

    from rsp_portal.types import Actor

logger = logging.getLogger("rsp_portal.authz")

SAFETY, LEADERSHIP, AUDITOR, ADMIN, PIPELINE, REVIEWER = (
    Role.SAFETY,
    Role.LEADERSHIP,
    Role.AUDITOR,
    Role.ADMIN,
    Role.PIPELINE,
    Role.REVIEWER,
)
# Everyone inside the lab. External reviewers are not in it: they read only what a grant names
# (accountability.reviews), through the review actions below and the pages in REVIEWER_PAGES.
EVERYONE = frozenset({SAFETY, LEADERSHIP, AUDITOR, ADMIN, PIPELINE})
PEOPLE = frozenset({SAFETY, LEADERSHIP, AUDITOR, ADMIN})


@dataclass(frozen=True)
class Action:
    """An action, the roles allowed to take it and the token scope it needs."""

    name: str
    roles: frozenset[str]
    scope: str
    label: str


_ACTIONS = [
    # Who am I: any token may check itself, whatever its scopes (scope "" means no scope needed).
    Action("account.view", EVERYONE | {REVIEWER}, "", "See who you are signed in as"),
    # Reading the record.
    Action("policy.view", EVERYONE, TokenScope.READ, "Read the policy"),
    Action("evidence.view", EVERYONE, TokenScope.READ, "Read models, checkpoints and results"),
    Action("gate.view", EVERYONE, TokenScope.GATE, "Read scaling gates"),
    Action("governance.view", PEOPLE, TokenScope.READ, "Read decisions, safeguards and pauses"),
    Action(
        "audit.view", frozenset({AUDITOR, ADMIN}), TokenScope.AUDIT, "Read the full audit trail"
    ),
    # Auditors (including a peer portal's auditor account) hand in checkpoints to witness.
    Action(
        "audit.witness",
        frozenset({AUDITOR}),
        TokenScope.AUDIT,
        "Submit another log's checkpoints to be witnessed",
    ),
    # Evidence.
    Action(
        "evidence.report",
        frozenset({SAFETY, PIPELINE, ADMIN}),
        TokenScope.EVIDENCE,
        "Register models and checkpoints, log and import results",
    ),
    # Evidence and judgements on it belong to the safety team and leadership, never to an
    # administrator account (issue 23): correcting a result, confirming a correction that
    # lowers a determination, confirming a model's lineage, verifying a safeguard.
    Action("evidence.correct", frozenset({SAFETY}), TokenScope.EVIDENCE, "Correct a result"),
    Action(
        "evidence.confirm_correction",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.EVIDENCE,
        "Confirm or reject another person's correction that lowers a determination",
    ),
    # A second person: never whoever registered the model (evaluations.lineage.confirm).
    Action(
        "lineage.confirm",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.EVIDENCE,
        "Confirm the parent another person claimed for a model (lineage)",
    ),
    Action("suite.run", frozenset({SAFETY, ADMIN}), TokenScope.EVIDENCE, "Run evaluation suites"),
    Action("suite.manage", frozenset({ADMIN}), TokenScope.EVIDENCE, "Define evaluation suites"),
    # Governance.
    Action(
        "safeguard.update",
        frozenset({SAFETY}),
        TokenScope.GOVERNANCE,
        "Record safeguard status and evidence",
    ),
    Action(
        "decision.request",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Request a scaling decision",
    ),
    Action(
        "decision.sign",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Approve or reject scaling decisions",
    ),
    # Making things safer must be easier than making them riskier: any safety or leadership
    # user can pause on their own.
    Action(
        "model.pause",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Pause a model at once",
    ),
    Action(
        "precaution.record",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Treat a threshold as crossed without evidence (lifting it needs a decision)",
    ),
    Action("policy.activate", frozenset({LEADERSHIP}), TokenScope.GOVERNANCE, "Activate a policy"),
    Action(
        "title.grant",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Propose, approve and refuse sign-off titles (two holders of other titles grant one)",
    ),
    Action(
        "policy.manage", frozenset({ADMIN}), TokenScope.GOVERNANCE, "Load and edit policy drafts"
    ),
    Action("token.manage", frozenset({ADMIN}), TokenScope.GOVERNANCE, "Manage users and tokens"),
    # Transparency (docs/transparency.md). Recipients of noncompliance reports are further
    # limited to the titles transparency.services.is_recipient names.
    Action(
        "noncompliance.handle",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Read and handle noncompliance reports (recipients only)",
    ),
    Action(
        "incident.view", frozenset({SAFETY, LEADERSHIP, AUDITOR}), TokenScope.READ, "Read incidents"
    ),
    Action(
        "incident.record",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Record incidents, their interim measures and closure",
    ),
    Action(
        "publicity.manage",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Decide what the public view shows (models, incidents)",
    ),
    # Accountability (docs/accountability.md): reports, commitments.
    Action(
        "report.view", frozenset({SAFETY, LEADERSHIP, AUDITOR}), TokenScope.READ, "Read reports"
    ),
    # Reading one report: the lab's readers read every report, an external reviewer only those
    # a grant in force names (accountability.reviews.visible_reports decides which).
    Action(
        "report.read",
        frozenset({SAFETY, LEADERSHIP, AUDITOR, REVIEWER}),
        TokenScope.READ,
        "Read a report you may see",
    ),
    Action(
        "report.write",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Draft and revise reports",
    ),
    Action("report.sign", frozenset({LEADERSHIP}), TokenScope.GOVERNANCE, "Sign reports"),
    Action(
        "report.publish",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Publish a signed report's public edition",
    ),
    Action(
        "commitment.view",
        frozenset({SAFETY, LEADERSHIP, AUDITOR}),
        TokenScope.READ,
        "Read the policy's commitments and what is due",
    ),
    Action(
        "commitment.fulfil",
        frozenset({SAFETY, LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Record that a commitment was kept",
    ),
    # External review (docs/accountability.md): leadership grants a reviewer time-limited access
    # to a report or a model's reports; the reviewer reads what the grant names and reviews it.
    Action(
        "review.grant",
        frozenset({LEADERSHIP}),
        TokenScope.GOVERNANCE,
        "Grant, approve and end an external reviewer's access",
    ),
    Action(
        "review.read",
        frozenset({REVIEWER}),
        TokenScope.READ,
        "Read the reports (and the record frozen in them) your grants name, while they last",
    ),
    Action(
        "review.view",
        frozenset({SAFETY, LEADERSHIP, AUDITOR, REVIEWER}),
        TokenScope.READ,
        "See reviewer grants (reviewers: their own)",
    ),
    Action(
        "review.write",
        frozenset({REVIEWER}),
        TokenScope.REVIEW,
        "Record a review of a report your grant names",
    ),
    Action(
        "notifications.manage",
        frozenset({ADMIN}),
        TokenScope.GOVERNANCE,
        "Add, change and remove notification subscriptions (e-mail, webhook, Slack)",
    ),
]
ACTIONS: dict[str, Action] = {action.name: action for action in _ACTIONS}
# Separation of duties: whoever administers accounts never signs, whatever else they hold, so
# an administrator cannot add themselves to leadership and fill a two-person rule alone.
# The same holds for judgements on the evidence: an administrator who also holds the safety role
# still cannot correct results, confirm corrections or lineage, or verify safeguards.
NOT_FOR_ADMINS = frozenset(
    {
        "decision.sign",
        "policy.activate",
        "evidence.correct",
        "evidence.confirm_correction",
        "lineage.confirm",
        "safeguard.update",
        "report.sign",
        "report.publish",
        "title.grant",
        "review.grant",
    }
)

#: The only pages an external reviewer's session reaches (URL names); every other page answers
#: 403 (``rsp_portal.middleware.ReviewerConfinementMiddleware``), so a page added later is
#: closed to reviewers until it is listed here. The API needs no list: every endpoint declares
#: its actions and reviewers hold only the review actions (deny by default).
REVIEWER_PAGES = frozenset(
    {
        "login",
        "logout",
        "password_reset_confirm",
        "password_reset_complete",
        "account",
        "tokens",
        "revoke-token",
        "reviewer-home",
        "report-detail",
        "report-print",
        "report-review",
        "transparency",
    }
)


def confined_to_review(user: Actor) -> bool:
    """Whether ``user`` is an external reviewer (who reaches only :data:`REVIEWER_PAGES`)."""
    return REVIEWER in _roles(user)


def _roles(user: Actor) -> frozenset[str]:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    return cast("User", user).roles  # only a User is authenticated


def can(user: Actor, action_name: str, token: ApiToken | None = None) -> bool:
    """Whether ``user`` (through ``token``, if the request used one) may take the action.

    Roles are fixed codes (``User.role``), never group names. For signing, a token's scope
    counts only if the trail recorded it when the token was issued (``core.authority``): a
    scope added to the row in SQL confers nothing.
    """
    action = ACTIONS[action_name]  # a KeyError here is a programming error, not a denial
    roles = _roles(user)
    if not (roles & action.roles):
        return False
    if action_name in NOT_FOR_ADMINS and ADMIN in roles:
        return False
    if token is None or not action.scope:
        return True
    if action.scope not in token.scopes:
        return False
    if action_name in NOT_FOR_ADMINS:
        return action.scope in authority.token_scopes(token.pk)
    return True


def log_denial(user: Actor, action_name: str, token: ApiToken | None = None) -> None:
    """Authorisation failures are logged with who was refused (OWASP ASVS V16.3.2)."""
    username = getattr(user, "get_username", lambda: "")() or "anonymous"
    via = f"token:{token.key_id}" if token is not None else "session"
    logger.warning(
        "authorisation refused: user=%s (id %s) action=%s via=%s",
        username,
        getattr(user, "pk", None),
        action_name,
        via,
    )


def require(user: Actor, action_name: str, token: ApiToken | None = None) -> User:
    """Raise PermissionDenied (403) unless the action is allowed, naming what was missing;
    return the user, who is then known to be a signed-in, active ``User``."""
    if not can(user, action_name, token):
        log_denial(user, action_name, token)
        action = ACTIONS[action_name]
        roles = _roles(user)
        if action_name in NOT_FOR_ADMINS and ADMIN in roles:
            raise PermissionDenied(
                "An administrator account cannot sign, activate or judge evidence (correct "
                "results, confirm lineage, verify safeguards): separation of duties."
            )
        if token is not None and roles & action.roles:
            raise PermissionDenied(f"This token lacks the '{action.scope}' scope.")
        raise PermissionDenied(f"Your role does not allow this: {action.label.lower()}.")
    return cast("User", user)


def allowed_scopes(user: Actor) -> list[str]:
    """Scopes worth putting on a token for this user: those some permitted action needs."""
    roles = _roles(user)
    return sorted({a.scope for a in _ACTIONS if a.scope and roles & a.roles})


class ActionPermission(BasePermission):
    """DRF permission: the view declares ``actions = {"GET": "evidence.view", ...}``.

    A view that declares nothing for a method is refused (deny by default), so a new endpoint
    cannot be left open by accident. Unsafe methods fall back to the ``"write"`` key and safe
    ones to ``"read"``.
    """

    message = "You are not allowed to do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not hasattr(view, (request.method or "").lower()):
            return True  # the view does not do this at all: let DRF answer 405
        action_name = action_for(view, request)
        if action_name is None:
            log_denial(request.user, f"{request.method} {request.path} (no action declared)")
            return False
        if not can(request.user, action_name, _token(request)):
            self.message = _denial_message(request, action_name)  # logs the denial
            return False
        return True


def action_for(view: Any, request: Request) -> str | None:
    actions: dict[str, str] = getattr(view, "actions", {}) or {}
    drf_action = getattr(view, "action", None)
    if drf_action and drf_action in actions:
        return actions[drf_action]
    if request.method in actions:
        return actions[request.method]
    return actions.get("read" if request.method in SAFE_METHODS else "write")


def _token(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def _denial_message(request: Request, action_name: str) -> str:
    try:
        require(request.user, action_name, _token(request))
    except PermissionDenied as exc:
        return str(exc)
    return "You are not allowed to do this."


def navigation(request: HttpRequest) -> dict[str, dict[str, bool]]:
    """Template context: ``can.<action with dots as underscores>`` for the signed-in user."""
    user = getattr(request, "user", None)
    allowed = {name.replace(".", "_"): can(user, name) for name in ACTIONS}
    return {"can": allowed}
