"""Bad values and files the commands must refuse with one line and exit 2 (never an
internal error, a traceback or an out-of-memory kill), before any long work."""

from __future__ import annotations

import pytest

from analysis.cli import main


@pytest.fixture(scope="module")
def center(tmp_path_factory):
    from analysis.synth import generate_center, write_center

    return write_center(generate_center(agents=8, days=7, seed=3, gaming="none"),
                        tmp_path_factory.mktemp("refusals"))


def _refused(capsys, argv, *needles):
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith(f"ccpm {argv[0]}:")]
    assert rc == 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert lines and "error:" in lines[-1], err
    for needle in needles:
        assert needle in lines[-1], err
    return err


@pytest.fixture
def bad_yaml(tmp_path):
    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes('calls:\n  agent_id: "José"\n'.encode("latin-1"))
    utf16 = tmp_path / "utf16.yml"
    utf16.write_bytes("calls:\n  agent_id: agent\n".encode("utf-16"))
    binary = tmp_path / "binary.yml"
    binary.write_bytes(bytes(range(256)) * 4)
    return {"latin1": latin1, "utf16": utf16, "binary": binary}


def test_non_utf8_yaml_is_refused_in_one_line(center, bad_yaml, tmp_path, capsys):
    for path in bad_yaml.values():
        _refused(capsys, ["validate", "--calls", str(center["calls"]), "--mapping",
                          str(path), "--out", str(tmp_path / "v")], "UTF-8")
        _refused(capsys, ["compare", "--calls", str(center["calls"]), "--config", str(path),
                          "--out", str(tmp_path / "c")], "UTF-8")
        _refused(capsys, ["batch", str(path)], "UTF-8")
        _refused(capsys, ["gaming", "--calls", str(center["calls"]), "--okr", str(path),
                          "--out", str(tmp_path / "g")], "UTF-8")
    assert not any((tmp_path / d).exists() for d in "vcg")
    err = _refused(capsys, ["validate", "--calls", str(center["calls"]), "--mapping",
                            str(bad_yaml["utf16"]), "--out", str(tmp_path / "v")])
    assert "UTF-16" in err


def test_report_checks_its_config_before_any_notebook(center, bad_yaml, tmp_path, capsys):
    err = _refused(capsys, ["report", "--calls", str(center["calls"]), "--config",
                            str(bad_yaml["binary"]), "--out", str(tmp_path / "r")], "UTF-8")
    assert "executing" not in err
    bad_key = tmp_path / "bad_key.yml"
    bad_key.write_text("kpi:\n  bogus: 1\n")
    err = _refused(capsys, ["report", "--calls", str(center["calls"]), "--config",
                            str(bad_key), "--out", str(tmp_path / "r")], "kpi.bogus")
    assert "executing" not in err
    assert not (tmp_path / "r").exists()


def test_compare_refuses_truth_or_flags_without_their_column(center, tmp_path, capsys):
    import pandas as pd

    calls_csv = tmp_path / "calls.csv"  # has agent_id, and boolean columns with gaps
    pd.read_parquet(center["calls"]).head(50).to_csv(calls_csv, index=False)
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(calls_csv.read_text().splitlines()[0] + "\n")
    for path in (calls_csv, header_only):
        for opt in ("--truth", "--flags"):
            _refused(capsys, ["compare", "--calls", str(center["calls"]), opt, str(path),
                              "--out", str(tmp_path / "c")], "'flagged'", path.name)


@pytest.mark.parametrize("extra, needle", [
    (["--seed", "-1"], "seed"),
    (["--start", "9999-12-31"], "9999-12-31"),
    (["--agents", "100000000", "--days", "1000000"], "GB of memory"),
])
def test_synth_refuses_impossible_arguments(extra, needle, tmp_path, capsys):
    _refused(capsys, ["synth", "--out", str(tmp_path / "s"), "--agents", "8", "--days", "7",
                      "--quiet", *extra], needle)
    assert not (tmp_path / "s").exists()


def test_restore_series_leaves_boolean_object_columns_alone():
    import pandas as pd

    from analysis.escape import restore_series

    s = pd.Series([True, None, False], dtype=object)
    assert restore_series(s).tolist() == [True, None, False]
    assert restore_series(pd.Series(["'=1", None, True], dtype=object)).tolist() == \
        ["=1", None, True]


# -- values accepted silently before (issue 4) ------------------------------------------


@pytest.mark.parametrize("argv, needle", [
    (["compare", "--n-boot", "-5"], "--n-boot -5"),
    (["compare", "--short-call-s", "-1"], "--short-call-s"),
    (["compare", "--repeat-window-h", "0"], "--repeat-window-h"),
    (["compare", "--repeat-window-h", "-1"], "--repeat-window-h"),
    (["panel", "--short-call-s", "-1"], "--short-call-s"),
    (["report", "--short-call-s", "-1"], "--short-call-s"),
    (["gaming", "--short-call-s", "-1"], "--short-call-s"),
    (["compare", "--models", ","], "--models"),
    (["gaming", "--checks", ","], "--checks"),
    (["gaming", "--option", "bunch_boot=-1"], "bunch_boot=-1"),
    (["gaming", "--option", "min_peers=-3"], "min_peers=-3"),
    (["gaming", "--option", "repeat_window_h=0"], "repeat_window_h=0"),
])
def test_out_of_range_values_are_refused(argv, needle, center, tmp_path, capsys):
    out = tmp_path / ("x.parquet" if argv[0] == "panel" else "x")
    cmd, *rest = argv
    try:
        rc = main([cmd, "--calls", str(center["calls"]), *rest, "--out", str(out)])
    except SystemExit as exc:  # argparse's own refusal: usage and one error line
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"ccpm {cmd}: error:") and needle in last, err
    assert not out.exists()


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_batch_refuses_no_workers(workers, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(tmp_path / "schedule.yml"), "--workers", workers])
    assert exc.value.code == 2
    assert "--workers: must be >= 1" in capsys.readouterr().err


def test_a_failed_check_is_reported_as_failed_not_as_too_few_calls(center, tmp_path,
                                                                   capsys, monkeypatch):
    from analysis.gaming._base import CHECKS

    def broken(ctx):
        raise ValueError("negative dimensions are not allowed")

    CHECKS.names()  # loads the registry
    monkeypatch.setitem(CHECKS._items, "short_calls_peer", broken)
    out = tmp_path / "g"
    rc = main(["gaming", "--calls", str(center["calls"]), "--checks", "short_calls_peer",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "check short_calls_peer FAILED: ValueError: negative dimensions" in err
    assert "too few calls" not in err
    assert not out.exists()


# -- messages that named the wrong problem (issue 7) -------------------------------------


def test_report_messages_name_the_problem(center, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = str(tmp_path / "r")
    _refused(capsys, ["report", "--calls", str(empty), "--out", out],
             "folder holds no table files")
    _refused(capsys, ["report", "--calls", str(center["calls"]), "--span", "2026-13",
                      "--out", out], "invalid month")
    _refused(capsys, ["report", "--calls", str(center["calls"]), "--span", "2026-02-30",
                      "--out", out], "invalid date")
    for cmd in ("report", "validate", "gaming"):
        _refused(capsys, [cmd, "--calls", str(center["calls"]), "--mapping", str(empty),
                          "--out", out], "is a folder")
