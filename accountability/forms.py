"""Forms of the accountability pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django import forms

SECTIONS_HELP = (
    "Markdown. Start each section with a line '# Heading'; the text below it is the section's "
    "body. Example:\n# Summary\nNo threshold crossed.\n# Evidence\n..."
)


def split_sections(text: str) -> list[dict[str, str]]:
    """``# Heading`` lines start sections; text before the first heading is a 'Summary'."""
    sections: list[dict[str, str]] = []
    heading, body = "", cast("list[str]", [])
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        if line.startswith("# "):
            if heading or "".join(body).strip():
                sections.append({"heading": heading or "Summary", "body": "\n".join(body).strip()})
            heading, body = line[2:].strip(), []
        else:
            body.append(line)
    if heading or "".join(body).strip():
        sections.append({"heading": heading or "Summary", "body": "\n".join(body).strip()})
    return sections


def join_sections(sections: list[dict[str, str]]) -> str:
    return "\n\n".join(f"# {s['heading']}\n{s['body']}" for s in sections)


class ReportForm(forms.Form):
    kind = forms.ChoiceField(label="Kind of report")
    model = forms.ChoiceField(label="Model", required=False)
    title = forms.CharField(max_length=300)
    sections = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}), help_text=SECTIONS_HELP)

    def __init__(
        self, *args: Any, kinds: list[tuple[str, str]], models: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds
        cast(forms.ChoiceField, self.fields["model"]).choices = [
            ("", "— the whole policy (all models) —"),
            *models,
        ]


class ReviseForm(forms.Form):
    title = forms.CharField(max_length=300)
    sections = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}), help_text=SECTIONS_HELP)


class ReportSignForm(forms.Form):
    snapshot_sha256 = forms.CharField(widget=forms.HiddenInput)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PublishForm(forms.Form):
    """One checkbox and reason per section: a ticked section is redacted."""

    def __init__(self, *args: Any, sections: list[dict[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i, section in enumerate(sections):
            self.fields[f"redact_{i}"] = forms.BooleanField(
                required=False, label=f"Withhold “{section['heading']}” from the public edition"
            )
            self.fields[f"reason_{i}"] = forms.CharField(
                required=False, label="Why", max_length=2000
            )
        self.count = len(sections)

    def redactions(self) -> list[dict[str, object]]:
        return [
            {"section": i, "reason": self.cleaned_data.get(f"reason_{i}", "")}
            for i in range(self.count)
            if self.cleaned_data.get(f"redact_{i}")
        ]


class FulfilForm(forms.Form):
    evidence_url = forms.URLField(
        required=False, max_length=500, label="Evidence (link)", assume_scheme="https"
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ReviewForm(forms.Form):
    """An external reviewer's review of the report they read."""

    snapshot_sha256 = forms.CharField(widget=forms.HiddenInput)
    body = forms.CharField(
        label="Your review",
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown. Advisory: it is shown with the report and in decisions relying on it.",
    )


class GrantForm(forms.Form):
    """Leadership grants an external reviewer access to a report or a model's reports."""

    reviewer = forms.ChoiceField(label="Reviewer (an account in the external reviewer role)")
    organisation = forms.CharField(max_length=200, label="Reviewing for (outside body)")
    report = forms.IntegerField(required=False, label="Report id", min_value=1)
    model = forms.ChoiceField(required=False, label="…or every report of a model")
    days = forms.IntegerField(min_value=1, max_value=366, initial=7, label="For how many days")

    def __init__(
        self,
        data: Mapping[str, object] | None = None,
        *,
        reviewers: list[tuple[str, str]],
        models: list[tuple[str, str]],
        initial: dict[str, object] | None = None,
    ) -> None:
        super().__init__(data, initial=initial)
        cast(forms.ChoiceField, self.fields["reviewer"]).choices = reviewers
        cast(forms.ChoiceField, self.fields["model"]).choices = [("", "—"), *models]
