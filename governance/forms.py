from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.utils import timezone

from governance.emails import EVENTS
from governance.models import SafeguardState, Scope, Subscription
from governance.transports import TRANSPORTS
from rsp_portal.datetimes import BoundedFormDateTimeField


class DecisionForm(forms.Form):
    scope = forms.ChoiceField(
        choices=Scope.choices,
        initial=Scope.SCALING,
        help_text="A scaling decision never approves deployment, nor the reverse.",
    )
    compute_limit = forms.FloatField(
        label="Compute limit (FLOP)",
        required=False,
        help_text=(
            "Scaling: continue up to this effective compute, e.g. 3e25. Deployment: leave empty "
            "to deploy the largest checkpoint."
        ),
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10000)
    lifts_precautions = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Lift these precautionary determinations once approved",
    )

    checkpoints = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Checkpoints deployed (deployment decisions only; those not ticked are not covered)",
    )

    def __init__(
        self,
        *args: Any,
        precautions: Sequence[Any] = (),
        checkpoints: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        named = self.fields["checkpoints"]
        assert isinstance(named, forms.MultipleChoiceField)
        named.choices = [(name, name) for name in checkpoints]
        field = self.fields["lifts_precautions"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [
            (str(p.pk), f"#{p.pk} {p.threshold_code}: {p.reason}") for p in precautions
        ]
        if not precautions:
            del self.fields["lifts_precautions"]

    def clean_compute_limit(self) -> float | None:
        value: float | None = self.cleaned_data.get("compute_limit")
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise forms.ValidationError("Enter a finite number of FLOP above zero.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == Scope.SCALING and data.get("compute_limit") is None:
            self.add_error("compute_limit", "A scaling decision needs a compute limit.")
        if data.get("scope") == Scope.DEPLOYMENT:
            if data.get("compute_limit") is not None:
                self.add_error(
                    "compute_limit",
                    "A deployment decision takes no compute limit: tick the checkpoints it "
                    "deploys.",
                )
            if not data.get("checkpoints"):
                self.add_error("checkpoints", "Tick the checkpoints this decision deploys.")
        data["lifts_precautions"] = [int(i) for i in data.get("lifts_precautions") or []]
        return data


class PrecautionForm(forms.Form):
    threshold = forms.ChoiceField(choices=())
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10000,
        help_text="Why the threshold cannot be ruled out, e.g. a new capability not yet evaluated.",
    )

    def __init__(self, *args: Any, thresholds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["threshold"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = thresholds


class SignForm(forms.Form):
    dossier_sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000
    )


class SafeguardForm(forms.Form):
    requirement_code = forms.ChoiceField(choices=())
    status = forms.ChoiceField(choices=SafeguardState.choices)
    evidence_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", help_text="required to mark verified"
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )

    def __init__(self, *args: Any, requirements: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["requirement_code"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(code, code) for code in requirements]


class PauseForm(forms.Form):
    reason = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class GateAsOfForm(forms.Form):
    """The moment an auditor asks about (in the person's time zone, which the page names) and
    the scope."""

    as_of = BoundedFormDateTimeField(
        label="As of",
        input_formats=[
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M:%S.%f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d",
        ],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.SCALING)

    def clean_as_of(self) -> object:
        as_of = self.cleaned_data["as_of"]
        if as_of is not None and as_of > timezone.now():
            raise forms.ValidationError(
                "This moment is in the future; the record answers for the past only."
            )
        return as_of


class SafeguardBulkForm(forms.Form):
    """One status and one evidence link for several requirements at once."""

    requirements = forms.MultipleChoiceField(
        choices=(), error_messages={"required": "Tick at least one requirement."}
    )
    status = forms.ChoiceField(choices=SafeguardState.choices, initial=SafeguardState.PLANNED)
    evidence_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", help_text="required to mark verified"
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )

    def __init__(self, *args: Any, requirements: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["requirements"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(code, code) for code in requirements]


class SubscriptionForm(forms.ModelForm[Subscription]):
    """A notification subscription; the kind's transport checks the target (model ``clean``).

    The secret is never shown again: left blank on an edit, the stored one is kept.
    """

    kind = forms.ChoiceField(label="Channel")
    events = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event.",
    )
    secret = forms.CharField(
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signed webhooks only: the shared secret for the X-RSP-Signature header. "
        "Leave blank to keep the stored one.",
    )

    class Meta:
        model = Subscription
        fields = ["name", "kind", "target", "secret", "events", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

        kind = cast("forms.ChoiceField", self.fields["kind"])
        kind.choices = [(t.kind, t.label) for t in TRANSPORTS.values()]
        events = cast("forms.MultipleChoiceField", self.fields["events"])
        events.choices = [(event, words.name) for event, words in EVENTS.items()]
        self._stored_secret = self.instance.secret if self.instance.pk else ""

    def clean_secret(self) -> str:
        return str(self.cleaned_data.get("secret") or self._stored_secret)
