"""Unit tests of hvac_compare.py (run: .tools/venv/bin/python -m pytest tests/compat)."""

import json

import hvac_compare

A = "tests/x.py::T::test_a"
B = "tests/x.py::T::test_b"
C = "tests/y.py::U::test_c"


def test_parse_expected_ignores_comments_and_keeps_reasons():
    text = "# header\n\n{}  # broken\n  {}\n".format(A, B)
    assert hvac_compare.parse_expected(text) == {A: "broken", B: ""}


def test_unlisted_failure_fails_the_run():
    ok, lines = hvac_compare.compare({A: "passed", B: "failed"}, {}, 1)
    assert not ok
    assert "UNEXPECTED FAILED: " + B in lines


def test_setup_error_counts_as_failure():
    ok, lines = hvac_compare.compare({A: "error"}, {}, 1)
    assert not ok
    assert "UNEXPECTED ERROR: " + A in lines


def test_listed_failure_is_accepted():
    ok, lines = hvac_compare.compare({A: "passed", B: "failed"}, {B: "why"}, 1)
    assert ok
    assert any(line.startswith("expected failure (failed): " + B) for line in lines)


def test_listed_test_that_passes_is_only_a_warning():
    ok, lines = hvac_compare.compare({A: "passed", B: "passed"}, {B: "why"}, 0)
    assert ok
    assert any("unexpectedly passed" in line and B in line for line in lines)


def test_listed_test_not_run_is_a_warning():
    ok, lines = hvac_compare.compare({A: "passed"}, {C: ""}, 0)
    assert ok
    assert "WARNING listed but not run: " + C in lines


def test_prefix_entry_covers_matching_ids_only():
    expected = {"tests/x.py::T::*": "flaky class"}
    ok, _ = hvac_compare.compare({A: "failed", B: "passed"}, expected, 1)
    assert ok
    ok, lines = hvac_compare.compare({A: "failed", C: "failed"}, expected, 1)
    assert not ok
    assert "UNEXPECTED FAILED: " + C in lines


def test_timeout_crash_and_empty_runs_fail():
    assert not hvac_compare.compare({A: "passed"}, {}, 124)[0]
    assert not hvac_compare.compare({A: "passed"}, {}, 3)[0]
    assert not hvac_compare.compare({}, {}, 5)[0]
    assert not hvac_compare.compare({}, {}, 0)[0]


def test_main_writes_summary_and_exit_code(tmp_path):
    outcomes = tmp_path / "o.json"
    outcomes.write_text(json.dumps({A: "failed"}))
    expected = tmp_path / "e.txt"
    expected.write_text(A + "  # known\n")
    summary = tmp_path / "s.txt"
    argv = ["hvac_compare.py", str(outcomes), str(expected), str(summary), "1"]
    assert hvac_compare.main(argv) == 0
    assert "1 failed" in summary.read_text()
    expected.write_text("")
    assert hvac_compare.main(argv) == 1
    assert "UNEXPECTED FAILED: " + A in summary.read_text()
