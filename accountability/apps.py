from django.apps import AppConfig


class AccountabilityConfig(AppConfig):
    """Reports, procedural commitments and the late-evaluation register."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accountability"

    def ready(self) -> None:
        from accountability import commitments, reports, reviews
        from audit.reconcile import ACCESS_GRANT_FAULT
        from core import events
        from governance.adapter import OVERDUE_COMMITMENTS
        from governance.services.decisions import DECISION_REPORTS

        # The gate asks which gating commitments of a model are past their deadline; a decision
        # asks which reports it relies on and which the policy still requires.
        events.answer(OVERDUE_COMMITMENTS, commitments.overdue_gating)
        events.answer(DECISION_REPORTS, reports.decision_reports)
        # Verification asks whether a grant of access in force lacks its audit entries.
        events.answer(ACCESS_GRANT_FAULT, reviews.first_unbacked_grant)
