from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """The verdict: scaling gate, safeguards, decisions, pauses."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"

    def ready(self) -> None:
        # The gate is recomputed inside the transaction of every write that can change it.
        # Evidence and policy writes call these hooks explicitly (no signals).
        import importlib

        from governance import services
        from policies import services as policies

        try:
            evidence = importlib.import_module("evaluations.services")
        except ModuleNotFoundError:  # TEMPORARY while evaluations.services is being written
            evidence = None
        if evidence is not None and _on_evidence not in evidence.ON_EVIDENCE_CHANGED:
            evidence.ON_EVIDENCE_CHANGED.append(_on_evidence)
        if services.on_policy_activated not in policies.ON_ACTIVATE:
            policies.ON_ACTIVATE.append(services.on_policy_activated)


def _on_evidence(model: object) -> None:
    from governance import services

    services.on_evidence_changed(model, "evidence.change")
