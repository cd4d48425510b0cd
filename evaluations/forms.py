"""Browser forms for the evidence. They only collect input: every check is the services' own
(``ServiceError`` messages are put back on the fields), so the browser and the API agree."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import escape

from evaluations.models import AIModel, Checkpoint, EvalResult
from evaluations.policy import PolicyView
from rsp_portal.errors import ServiceError


def add_service_errors(form: forms.Form, error: ServiceError, aliases: dict[str, str]) -> None:
    """Show a service's field errors on the matching form fields (else at the top)."""
    for name, messages in error.message_dict.items():
        target = aliases.get(name, name.split(".")[0])
        for message in messages:
            form.add_error(target if target in form.fields else None, message)


def _metric_choices(policy: PolicyView | None) -> list[tuple[str, str]]:
    if policy is None:
        return []
    return [(m.key, f"{m.key} — {m.name} [{m.min:g}, {m.max:g}]") for m in policy.metrics.values()]


class ResultForm(forms.Form):
    """Log one result; elicitation is split into plain fields."""

    checkpoint = forms.ChoiceField()
    metric = forms.ChoiceField()
    value = forms.FloatField()
    stderr = forms.FloatField(required=False, min_value=0)
    n_samples = forms.IntegerField(required=False, min_value=1)
    mitigation = forms.ChoiceField(
        choices=EvalResult.Mitigation.choices, initial=EvalResult.Mitigation.PRE
    )
    scaffold = forms.CharField(required=False, max_length=200)
    attempts = forms.IntegerField(required=False, min_value=1)
    pass_at_k = forms.IntegerField(required=False, min_value=1, label="pass@k")
    tools = forms.CharField(required=False, help_text="comma-separated")
    safety_training_removed = forms.BooleanField(required=False)
    fine_tuned = forms.BooleanField(required=False)
    inference_budget = forms.CharField(required=False, max_length=100)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    evidence_url = forms.URLField(required=False, max_length=500, assume_scheme="https")
    external_body = forms.CharField(
        required=False,
        max_length=200,
        label="Run by an outside body",
        help_text="e.g. a government institute's pre-deployment tests; leave empty for your own",
    )

    ELICITATION = (
        "scaffold",
        "attempts",
        "pass_at_k",
        "tools",
        "safety_training_removed",
        "fine_tuned",
        "inference_budget",
    )

    def __init__(self, *args: Any, model: AIModel, policy: PolicyView | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.model = model
        names = list(
            Checkpoint.objects.filter(model=model)
            .order_by("-reported_at", "-id")
            .values_list("name", flat=True)
        )
        self.fields["checkpoint"].choices = [(n, n) for n in names]  # type: ignore[attr-defined]
        self.fields["metric"].choices = _metric_choices(policy)  # type: ignore[attr-defined]

    def item(self) -> dict[str, Any]:
        """The result as the services take it (natural keys)."""
        data = self.cleaned_data
        elicitation: dict[str, Any] = {}
        for name in self.ELICITATION:
            value = data.get(name)
            if name == "tools":
                value = [t.strip() for t in (value or "").split(",") if t.strip()] or None
            if value in (None, "", False):
                continue
            elicitation[name] = value
        return {
            "model": self.model.slug,
            "checkpoint": data["checkpoint"],
            "metric": data["metric"],
            "value": data["value"],
            "stderr": data.get("stderr"),
            "n_samples": data.get("n_samples"),
            "mitigation": data["mitigation"],
            "elicitation": elicitation,
            "notes": data.get("notes") or "",
            "evidence_url": data.get("evidence_url") or "",
            "external_body": data.get("external_body") or "",
        }


class CorrectionForm(forms.Form):
    """Supersede a result: the new values and why."""

    value = forms.FloatField()
    stderr = forms.FloatField(required=False, min_value=0)
    n_samples = forms.IntegerField(required=False, min_value=1)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    correction_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def values(self) -> dict[str, object]:
        data = self.cleaned_data
        return {
            "value": data["value"],
            "stderr": data.get("stderr"),
            "n_samples": data.get("n_samples"),
            "notes": data.get("notes") or "",
        }


class ImportUploadForm(forms.Form):
    """Step 1 of an import: the file and the checkpoint it measured."""

    file = forms.FileField()
    checkpoint = forms.ChoiceField()
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        # Django renders help text as HTML: the example is escaped, so it shows as written.
        help_text=escape(
            "Optional JSON from each log source (scorer/metric) to a metric key, e.g. "
            '{"match/accuracy": "cbrn.vct_accuracy"}; remembered for the log\'s task. You can '
            "also map each source on the next page."
        ),
    )

    def __init__(self, *args: Any, model: AIModel, **kwargs: Any):
        super().__init__(*args, **kwargs)
        names = list(
            Checkpoint.objects.filter(model=model)
            .order_by("-reported_at", "-id")
            .values_list("name", flat=True)
        )
        self.fields["checkpoint"].choices = [(n, n) for n in names]  # type: ignore[attr-defined]


class CheckpointForm(forms.Form):
    """Register a checkpoint; the evidence service checks it (as for the API)."""

    name = forms.CharField(max_length=200, help_text="Unique within the model, e.g. step-2000.")
    effective_compute = forms.FloatField(
        label="Effective compute (FLOP)",
        help_text="Effective training compute in FLOP, e.g. 3e25.",
    )
    step = forms.IntegerField(required=False, min_value=0, help_text="Training step (optional).")
    stage = forms.ChoiceField(
        choices=Checkpoint.Stage.choices, initial=Checkpoint.Stage.PRETRAINING
    )
