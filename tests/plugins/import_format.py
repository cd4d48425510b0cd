"""A test-only evidence import format, ``scoreboard``:
``{"scoreboard": {...}, "results": [{"name": ..., "value": ...}]}``.

In the product it is one module ``evaluations/importers/scoreboard.py`` (this file), its name in
the import of the shipped formats in ``evaluations/importers/__init__.py``, a section in
``docs/import-formats.md`` and a test with a sample file. Defining the reader registers it; the
import service, the upload form, the API and the Python client (which asks the server what a
file is) need no change.
"""

from __future__ import annotations

import json
from pathlib import Path

from evaluations.importers.base import LogFormatReader, ParsedLog, ParsedMetric

NAME = "scoreboard"


class ScoreboardFormat(LogFormatReader):
    name = NAME
    label = "Scoreboard file"
    files = "Scoreboard .json files"
    first_keys = frozenset({"scoreboard"})

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        document = json.loads(path.read_bytes())
        board = document["scoreboard"]
        return ParsedLog(
            format=NAME,
            status="success",
            eval_id=None,
            run_id=str(board["run"]),
            task=str(board["task"]),
            model=board.get("model"),
            created=str(board["at"]),
            tool_version=None,
            file_sha256=sha256,
            total_samples=None,
            completed_samples=None,
            error=None,
            metrics=[
                ParsedMetric(str(row["name"]), float(row["value"])) for row in document["results"]
            ],
            provenance={"format": NAME, "run_id": str(board["run"])},
            run_key=f"{NAME}:{board['run']}",
            evaluated_at=str(board["at"]),
        )
