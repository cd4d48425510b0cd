"""Server time of importing a 5,000-sample Inspect ``.eval`` log (issue 11; not a timed test).

Generates the log with ``inspect_ai.eval`` against ``mockllm`` (offline), migrates a throwaway
SQLite database under ``var/bench/``, loads the default policy, and times, as the API view
would run them: the header-only parse, a preview (parse + mapping, nothing written) and the
import itself (parse, mapping, one import record, results, audit entries, gate hooks).
Prints one JSON object; the target is well under a second for the import.

    .venv/bin/python bench/import_inspect.py [--samples 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="import-bench-", dir=OUT))
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rsp_portal.settings")
    sys.path.insert(0, str(ROOT))
    try:
        print(json.dumps(run(work, args.samples, args.rounds), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, samples: int, rounds: int) -> dict[str, object]:
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from core.services import create_user
    from evaluations import import_service, services
    from evaluations.importers import parse_log_file
    from policies.packs import load_pack_file
    from policies.services import load_pack
    from tests.inspect_fixtures import make_inspect_log

    started = time.perf_counter()
    outputs = [str(2 * i) for i in range(samples)]
    log = make_inspect_log(work / "logs", "eval", outputs, targets=outputs)
    generate_seconds = time.perf_counter() - started

    call_command("migrate", verbosity=0)
    load_pack(load_pack_file("default"), activate=True)
    user = create_user("bench-safety", "safety", password=secrets.token_urlsafe(16))
    model = services.create_model(slug="bench", name="Bench", actor=user)
    services.report_checkpoint(model, name="ck", effective_compute=1e24, actor=user)
    data = log.read_bytes()

    def upload() -> SimpleUploadedFile:
        return SimpleUploadedFile(log.name, data)

    def timed(fn: object) -> list[float]:
        times = []
        for _ in range(rounds):
            begin = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - begin)
        return times

    mapping = {"match/accuracy": "cbrn.vct_accuracy"}
    parse = timed(lambda: parse_log_file(log))
    preview = timed(
        lambda: import_service.import_log(
            upload(), model="bench", checkpoint="ck", mapping=mapping, actor=user, preview=True
        )
    )
    begin = time.perf_counter()
    outcome = import_service.import_log(
        upload(), model="bench", checkpoint="ck", mapping=mapping, actor=user, via="bench"
    )
    import_seconds = time.perf_counter() - begin
    assert outcome.results and outcome.parsed is not None
    return {
        "samples": samples,
        "file_bytes": len(data),
        "generate_seconds": round(generate_seconds, 2),
        "parse_header_median_s": round(statistics.median(parse), 4),
        "preview_median_s": round(statistics.median(preview), 4),
        "import_s": round(import_seconds, 4),
        "n_samples_recorded": outcome.results[0].n_samples,
    }


if __name__ == "__main__":
    main()
