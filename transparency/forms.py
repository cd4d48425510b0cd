"""Forms of the transparency pages."""

from __future__ import annotations

from django import forms

from transparency import services
from transparency.models import Incident, NoncomplianceStatus


class NoncomplianceForm(forms.Form):
    summary = forms.CharField(max_length=services.MAX_SUMMARY, label="In one line")
    details = forms.CharField(
        max_length=services.MAX_DETAILS,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What happened, when, which model or commitment. Do not include your name "
        "unless you want the recipients to know it.",
    )


class ReceiptForm(forms.Form):
    receipt = forms.CharField(max_length=100)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=NoncomplianceStatus.choices)
    finding = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Required to close: what was found and what was done.",
    )


class IncidentForm(forms.Form):
    model = forms.ChoiceField(required=False)
    title = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))
    measures = forms.MultipleChoiceField(
        choices=Incident.Measure.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="“Scaling paused” pauses the model now, as the pause button does.",
    )


class CloseForm(forms.Form):
    closure = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="How it was closed")


class PublicityForm(forms.Form):
    public = forms.BooleanField(required=False, label="Show its gate history on the public view")
    values_public = forms.BooleanField(
        required=False,
        label="…with the threshold statuses (otherwise states, reasons and dates only)",
    )
    reason = forms.CharField(max_length=2000, label="Why (recorded)")
