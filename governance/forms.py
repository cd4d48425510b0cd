from __future__ import annotations

import math
from typing import Any

from django import forms

from governance.models import SafeguardState


class DecisionForm(forms.Form):
    compute_limit = forms.FloatField(
        label="Compute limit (FLOP)", help_text="Scale up to this effective compute, e.g. 3e25."
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10000)

    def clean_compute_limit(self) -> float:
        value: float = self.cleaned_data["compute_limit"]
        if not math.isfinite(value) or value <= 0:
            raise forms.ValidationError("Enter a finite number of FLOP above zero.")
        return value


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
