"""Every page speaks in words (issue 27 obs 7): no raw audit actions or enum codes, one date
format with its zone, no doubled labels, numbers as people write them.

The test seeds the demo, signs in as each role (the external reviewer too) and follows every
same-site link from the role's landing page (list and detail pages alike), then checks the
text people read. Identifiers shown
deliberately as identifiers (inside ``<code>``, e.g. metric keys a pipeline sends) are not
prose and are left out.
"""

from __future__ import annotations

import html
import re

import pytest
from django.core.management import call_command

from core.models import User
from evaluations import services as evidence
from policies import services as policies
from policies.models import Metric
from policies.packs import load_pack_file
from tests.conftest import client_for

SKIP_PREFIXES = ("/api/", "/admin/", "/static/", "/logout/", "/login/", "/transparency/report")
HREF = re.compile(r'href="(/[^"#]*)"')
MAX_PAGES_PER_ROLE = 160

# What people should never read in prose.
RAW = {
    "audit action or dotted code": re.compile(
        r"(?<![\w./@-])[a-z][a-z_]*\.[a-z][a-z_]*(?![\w./@(-])"
    ),
    "snake_case code": re.compile(r"(?<![\w./@-])[a-z]+_[a-z_]+(?![\w./@-])"),
    "ISO timestamp": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d"),
    "zone-less time": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?!(:\d\d)? [A-Z+-])"),
    "US date": re.compile(r"\d\d/\d\d/\d{4}"),
    "padded decimal": re.compile(r"(?<![\d.])\d+\.\d*000\b"),
    "an arrow between codes": re.compile(r"\b[a-z_]+ -> [a-z_]+\b"),
    "doubled label": re.compile(r"\b([A-Z][\w&-]*-\d+(?:-[A-Z])?)\s+\1\b"),
    "plural after one": re.compile(
        r"(?<![\d.,])\b1 (checkpoints|results|people|days|items|requirements|safeguards|entries"
        r"|runs|models|updates|reasons|approvals|titles|standards|months|checks|samples)\b"
    ),
}
# Words that match a pattern but are English, and identifiers people type: actor names of
# console processes (``system:seed_demo``, ``manage.py seed_demo``); metric keys are added
# from the active policy (a pipeline sends them as they are).
ALLOWED = {"e.g", "i.e"}
IDENTIFIERS = re.compile(r"system:[a-z_]+|manage\.py [a-z_]+")


def _prose(page: str) -> str:
    """The text a person reads: no scripts, styles, code or attributes."""
    page = re.sub(r"(?is)<(script|style|code|pre|textarea|template)\b.*?</\1>", " ", page)
    # A reason's API code shown beside its words, marked as such.
    page = re.sub(r'(?is)<span class="code-badge"[^>]*>.*?</span>', " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(re.sub(r"\s+", " ", page))


def _problems(text: str, allowed: set[str]) -> list[str]:
    text = IDENTIFIERS.sub(" ", text)
    found = []
    for name, pattern in RAW.items():
        for match in pattern.finditer(text):
            word = match.group(0)
            if word in allowed:
                continue
            found.append(f"{name}: …{text[max(0, match.start() - 50) : match.end() + 30]}…")
    return found


def _crawl(client, allowed: set[str], start: str = "/") -> dict[str, list[str]]:
    seen: set[str] = set()
    queue = [start]
    problems: dict[str, list[str]] = {}
    while queue and len(seen) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        page = response.content.decode()
        found = _problems(_prose(page), allowed)
        if found:
            problems[path] = found
        for href in HREF.findall(page):
            href = html.unescape(href)
            if not href.startswith(SKIP_PREFIXES) and href not in seen:
                queue.append(href)
    return problems


@pytest.mark.django_db
def test_every_page_people_reach_speaks_in_words(settings, tmp_path, verified_trail):
    settings.DEMO_MODE = True
    settings.VAR_DIR = tmp_path
    policies.load_pack(load_pack_file("default"), activate=True)
    call_command("seed_demo", quiet=True)
    allowed = ALLOWED | set(Metric.objects.values_list("key", flat=True))
    report = {}
    # Each role from its own landing page: an external reviewer's is the reviews page.
    for username, start in (
        ("safety", "/"),
        ("rso", "/"),
        ("auditor", "/"),
        ("admin", "/"),
        ("reviewer", "/reviews/"),
    ):
        user = User.objects.get(username=username)
        crawled = _crawl(client_for(user), allowed, start)
        for path, found in crawled.items():
            report.setdefault(path, found)
    lines = [
        f"{path}\n    " + "\n    ".join(sorted(set(found))[:8]) for path, found in report.items()
    ]
    assert not report, f"{len(report)} pages show codes:\n" + "\n".join(lines)


def test_the_words_cover_every_audit_action_the_code_writes():
    """Each action recorded anywhere has its words in the one vocabulary (no fallback)."""
    from pathlib import Path

    from core.words import ACTIONS

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r'record\(\s*"([a-z_]+(?:\.[a-z_]+)+)"')
    written = set()
    for app in (
        "core",
        "evaluations",
        "governance",
        "policies",
        "audit",
        "suites",
        "accountability",
        "transparency",
    ):
        for path in (root / app).rglob("*.py"):
            if "migrations" not in path.parts:
                written |= set(pattern.findall(path.read_text()))
    assert written, "no audit action found: the pattern is wrong"
    assert not written - ACTIONS.keys(), sorted(written - ACTIONS.keys())


@pytest.mark.django_db
def test_the_import_form_shows_its_example_as_written(safety):
    evidence.create_model(slug="atlas", name="Atlas", family="atlas", actor=safety)
    page = client_for(safety).get("/models/atlas/import/").content.decode()
    text = _prose(page)
    assert '{"/": ""}' not in text
    assert '{"match/accuracy": "cbrn.vct_accuracy"}' in text


@pytest.mark.django_db
def test_a_person_picks_a_time_zone_and_every_page_shows_times_in_it(safety, verified_trail):
    from audit.models import AuditEntry

    policies.load_pack(load_pack_file("default"), activate=True)
    evidence.create_model(slug="atlas", name="Atlas", family="atlas", actor=safety)
    client = client_for(safety)
    assert "UTC" in _prose(client.get("/").content.decode())  # the default
    response = client.post("/account/", {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    safety.refresh_from_db()
    assert safety.time_zone == "Asia/Tokyo"
    entry = AuditEntry.objects.filter(action="user.time_zone").get()
    assert b'"to":"Asia/Tokyo"' in bytes(entry.body)
    dashboard = _prose(client.get("/").content.decode())
    assert "JST" in dashboard and " UTC" not in dashboard.split("Recent gate changes")[-1]
    as_of = client.get("/gate/as-of/").content.decode()
    assert "Asia/Tokyo" in as_of and "(UTC)" not in as_of  # the picker says which zone it reads
    refused = client.post("/account/", {"time_zone": "Mars/Olympus"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
