"""The test deployment's allow-listed suite command (``SUITE_COMMANDS`` in test settings).

``emit_metrics.py JSON [--sleep S]`` prints ``{"metrics": JSON}`` after S seconds;
``--fail MESSAGE`` exits non-zero with MESSAGE; ``--env`` prints its environment and
``--echo TEXT`` prints TEXT, so tests can check what a command sees and what of its output is kept.
"""

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fail"]:
        print("starting")
        sys.exit(argv[1])
    if argv[:1] == ["--env"]:
        print(json.dumps(dict(os.environ)))
        return 0
    if argv[:1] == ["--echo"]:
        print(argv[1])
        return 0
    if argv[:1] == ["--sleep-forever"]:
        print("slow", flush=True)
        time.sleep(600)
        return 0
    sleep = float(argv[argv.index("--sleep") + 1]) if "--sleep" in argv else 0.0
    time.sleep(sleep)
    print("evaluating...")
    print(json.dumps({"metrics": json.loads(argv[0])}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
