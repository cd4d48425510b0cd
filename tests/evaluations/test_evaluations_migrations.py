"""Migration 0005: mappings become per task, successful Inspect imports get a run key."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.dbguard_escape import install_test_flush_escape

BEFORE = [("evaluations", "0004_result_dates")]
AFTER = [("evaluations", "0005_import_mappings_per_task")]


@pytest.mark.django_db(transaction=True)
def test_old_mappings_keep_no_task_and_inspect_imports_get_a_run_key() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    old.get_model("evaluations", "MetricMapping").objects.create(
        source_name="includes/accuracy", metric_key="cbrn.vct_accuracy"
    )
    ImportRecord = old.get_model("evaluations", "ImportRecord")
    ImportRecord.objects.create(
        file_sha256="a" * 64, format="inspect", eval_id="ev-1", status="success"
    )
    ImportRecord.objects.create(file_sha256="b" * 64, format="lm_eval", status="success")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps

    mapping = new.get_model("evaluations", "MetricMapping").objects.get()
    assert (mapping.format, mapping.task) == ("", "")
    keys = dict(
        new.get_model("evaluations", "ImportRecord").objects.values_list("eval_id", "run_key")
    )
    assert keys == {"ev-1": "inspect:ev-1", None: None}
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    # Migrations install the production trigger function again: restore the test runner's
    # flush escape, or the end-of-test flush is refused (tests/dbguard_escape.py).
    install_test_flush_escape(connection)
