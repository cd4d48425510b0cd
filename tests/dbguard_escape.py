"""The test runner's flush escape for the append-only guards: test code only, never shipped.

Django's TransactionTestCase empties tables between tests with TRUNCATE, which the production
trigger function (``audit.dbguard.PG_FUNCTION``) refuses. Only here, in its own throwaway
database, does the test runner replace that function with one that lets TRUNCATE through when
the session sets ``rsp.allow_test_flush = 'on'`` (``tests/conftest.py``).
"""

from __future__ import annotations

from typing import Any

PG_TEST_FUNCTION = """
CREATE OR REPLACE FUNCTION rsp_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND current_setting('rsp.allow_test_flush', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '42501';
END $$;
"""


def install_test_flush_escape(connection: Any) -> None:
    """Test runner only: let ``rsp.allow_test_flush = 'on'`` permit TRUNCATE in this database.

    Refuses any database whose name does not start with Django's test prefix, so a test
    settings mix-up cannot weaken a real database.
    """
    if connection.vendor != "postgresql":
        return
    name = connection.settings_dict["NAME"]
    if not str(name).startswith("test_"):
        raise RuntimeError(f"refusing to install the test flush escape in database {name!r}")
    from audit.preconditions import TEST_DATABASE_FUNCTIONS

    TEST_DATABASE_FUNCTIONS.add(PG_TEST_FUNCTION)  # verification accepts it, here only
    with connection.cursor() as cursor:
        cursor.execute(PG_TEST_FUNCTION)
