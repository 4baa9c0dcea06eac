"""Compare the outcomes of an hvac test run with a list of expected failures.

Usage: hvac_compare.py OUTCOMES_JSON EXPECTED_FAILURES_TXT SUMMARY_TXT PYTEST_EXIT_CODE

* OUTCOMES_JSON: {node_id: outcome}, written by the hvac_outcomes pytest plugin.
* EXPECTED_FAILURES_TXT: one pytest node id per line, optionally followed by
  ``# reason``; blank lines and lines starting with ``#`` are ignored. An entry ending
  in ``*`` is a prefix: it covers every node id that starts with the text before the
  ``*`` (for tests that fail only sometimes, e.g. a whole flaky class).

Exit status 0 when every failed/errored test is listed and the run itself was sound
(pytest neither crashed, nor timed out, nor collected nothing); 1 otherwise.
Listed tests that pass are reported as "unexpectedly passed" (a warning only).
The summary is printed and also written to SUMMARY_TXT.
"""

import json
import sys

# pytest exit codes: 0 all passed, 1 some failed; anything else means the run is unusable.
PYTEST_OK_CODES = {0, 1}
TIMEOUT_CODES = {124, 137}


def parse_expected(text):
    """Return {node_id: reason} from the expected-failures file's text."""
    expected = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        node_id, _, reason = line.partition("#")
        expected[node_id.strip()] = reason.strip()
    return expected


def split_entries(expected):
    """Split {entry: reason} into ({node_id: reason}, {prefix: reason})."""
    exact = {k: v for k, v in expected.items() if not k.endswith("*")}
    prefixes = {k[:-1]: v for k, v in expected.items() if k.endswith("*")}
    return exact, prefixes


def reason_for(node_id, exact, prefixes):
    """Return the listed reason if node_id is expected to fail, else None."""
    if node_id in exact:
        return exact[node_id]
    for prefix, reason in prefixes.items():
        if node_id.startswith(prefix):
            return reason
    return None


def compare(outcomes, expected, pytest_code):
    """Return (ok, lines of the summary)."""
    exact, prefixes = split_entries(expected)
    counts = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    failing = sorted(nid for nid, o in outcomes.items() if o in ("failed", "error"))
    bad = [nid for nid in failing if reason_for(nid, exact, prefixes) is None]
    known = [nid for nid in failing if reason_for(nid, exact, prefixes) is not None]
    fixed = sorted(nid for nid in exact if outcomes.get(nid) == "passed")
    not_run = sorted(nid for nid in exact if nid not in outcomes)
    not_run += sorted(
        p + "*" for p in prefixes if not any(nid.startswith(p) for nid in outcomes)
    )

    lines = []
    lines.append(
        "hvac: {} tests: {} passed, {} failed, {} errors, {} skipped".format(
            len(outcomes),
            counts.get("passed", 0),
            counts.get("failed", 0),
            counts.get("error", 0),
            counts.get("skipped", 0),
        )
    )
    for nid in known:
        lines.append(
            "expected failure ({}): {}  # {}".format(
                outcomes[nid], nid, reason_for(nid, exact, prefixes)
            )
        )
    for nid in fixed:
        lines.append("WARNING unexpectedly passed (remove it from the list): " + nid)
    for nid in not_run:
        lines.append("WARNING listed but not run: " + nid)
    for nid in bad:
        lines.append("UNEXPECTED {}: {}".format(outcomes[nid].upper(), nid))

    ok = True
    if pytest_code in TIMEOUT_CODES:
        lines.append("FAIL: the pytest run timed out (exit code {})".format(pytest_code))
        ok = False
    elif pytest_code not in PYTEST_OK_CODES:
        lines.append("FAIL: pytest exited with code {}".format(pytest_code))
        ok = False
    if not outcomes:
        lines.append("FAIL: no test outcome was recorded")
        ok = False
    if bad:
        lines.append("FAIL: {} test(s) failed that are not expected to".format(len(bad)))
        ok = False
    if ok:
        lines.append(
            "OK: {} expected failure(s), {} unexpectedly passed".format(len(known), len(fixed))
        )
    return ok, lines


def main(argv):
    """Entry point; see the module docstring."""
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    outcomes_path, expected_path, summary_path, code = argv[1:]
    try:
        with open(outcomes_path, encoding="utf-8") as f:
            outcomes = json.load(f)
    except (OSError, ValueError) as err:
        print("hvac: cannot read outcomes {}: {}".format(outcomes_path, err), file=sys.stderr)
        outcomes = {}
    with open(expected_path, encoding="utf-8") as f:
        expected = parse_expected(f.read())
    ok, lines = compare(outcomes, expected, int(code))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(summary_path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
