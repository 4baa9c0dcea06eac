"""pytest plugin: record every test's outcome by node id.

Loaded by tests/compat/hvac.sh with ``-p hvac_outcomes``; writes a JSON object
``{node_id: "passed" | "failed" | "error" | "skipped"}`` to the file named by the
environment variable COMPAT_OUTCOMES when the session ends. "error" means the test's
setup or teardown failed (e.g. setUpClass raised), "failed" that the test body failed.
"""

import json
import os

_outcomes = {}


def pytest_runtest_logreport(report):
    """Fold the setup/call/teardown reports of one test into a single outcome."""
    node_id = report.nodeid
    if report.when == "call":
        if report.passed:
            _outcomes[node_id] = "passed"
        elif report.failed:
            _outcomes[node_id] = "failed"
        else:
            _outcomes[node_id] = "skipped"
    elif report.failed:
        _outcomes[node_id] = "error"
    elif report.skipped and report.when == "setup":
        _outcomes[node_id] = "skipped"


def pytest_sessionfinish(session, exitstatus):
    """Write the collected outcomes (sorted by node id) to $COMPAT_OUTCOMES."""
    path = os.environ.get("COMPAT_OUTCOMES")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(_outcomes.items())), f, indent=1)
        f.write("\n")
