"""ccpm gaming refuses what it would otherwise ignore, and its summary counts every row read."""

from __future__ import annotations

import re

import pytest

from analysis.cli import main
from analysis.cli.gaming import CHECK_OPTIONS
from analysis.config import PACKAGE_DIR
from analysis.gaming._context import DEFAULT_OPTIONS
from analysis.synth import generate_center, write_center

# every way a check reads an option: ctx.options.get("x"), ctx.options["x"], opt(ctx, "x"),
# option(ctx, "x", ...), flag_option(ctx, "x", ...)
_READ = re.compile(r'(?:options(?:\.get\(|\[)|\b(?:opt|option|flag_option)\(ctx,\s*)"([a-z_0-9]+)"')
# set by the CLI's own flags
_CLI_FLAGS = {"alpha", "period", "aht_target", "short_call_s", "seed"}


def _options_read_by_checks() -> set[str]:
    names: set[str] = set()
    for path in (PACKAGE_DIR / "gaming").glob("*.py"):
        names |= set(_READ.findall(path.read_text()))
    return names


def test_every_option_a_check_reads_is_accepted():
    read = _options_read_by_checks()
    assert len(read) > 10  # the scan finds the checks' options at all
    missing = read - CHECK_OPTIONS - _CLI_FLAGS
    assert missing == set(), f"add to analysis.cli.gaming.CHECK_OPTIONS: {sorted(missing)}"


def test_no_stale_option_names():
    stale = CHECK_OPTIONS - _options_read_by_checks() - set(DEFAULT_OPTIONS)
    assert stale == set(), f"no check reads {sorted(stale)}"


@pytest.fixture(scope="module")
def small_center(tmp_path_factory):
    out = tmp_path_factory.mktemp("g")
    write_center(generate_center(agents=20, days=10, seed=5, gaming="hangup=2"), out)
    return out


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_unknown_option_exits_2_naming_it(small_center, tmp_path, capsys):
    rc = main(["gaming", "--calls", str(small_center / "calls.parquet"), "--option", "foo=1",
               "--out", str(tmp_path)])
    assert rc == 2
    assert _one_error_line(capsys).startswith("ccpm gaming: error: --option foo: unknown check option")


@pytest.mark.parametrize("key", ["short_tails", "transfer_tails", "peer_tails", "bunch_measure"])
def test_a_wrong_word_for_a_choice_option_exits_2_naming_the_words(key, small_center, tmp_path,
                                                                     capsys):
    from analysis.cli.gaming import CHOICE_OPTIONS

    out = tmp_path / "o"
    rc = main(["gaming", "--calls", str(small_center / "calls.parquet"), "--option",
               f"{key}=cauchy", "--out", str(out)])
    assert rc == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"ccpm gaming: error: --option {key}=cauchy: use one of "
                           f"{CHOICE_OPTIONS[key][0]}, ")
    assert not out.exists()  # stopped before anything was written


def test_choice_option_words_are_the_checks_own():
    from analysis.cli.gaming import CHOICE_OPTIONS
    from analysis.gaming import _peert, bunching, short_calls, transfers

    assert CHOICE_OPTIONS["short_tails"] == short_calls.TAILS
    assert CHOICE_OPTIONS["transfer_tails"] == transfers.TAILS
    assert CHOICE_OPTIONS["peer_tails"] == _peert.TAILS
    assert CHOICE_OPTIONS["bunch_measure"] == bunching.MEASURE_WORDS


def test_flag_words_are_the_checks_own():
    from analysis.cli.gaming import FLAG_WORDS
    from analysis.gaming._sigutil import FALSE_WORDS, TRUE_WORDS

    assert FLAG_WORDS == TRUE_WORDS + FALSE_WORDS


def test_broken_okr_yaml_is_one_line_with_its_position(small_center, tmp_path, capsys):
    bad = tmp_path / "okr.yml"
    bad.write_text("objectives:\n  - id: a\n    key_results: [\n")
    rc = main(["gaming", "--calls", str(small_center / "calls.parquet"), "--okr", str(bad),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    line = [x for x in err.splitlines() if "error:" in x]
    assert len(line) == 1 and "okr.yml: not valid YAML" in line[0] and "line " in line[0]
    assert not any(x.startswith(" ") for x in err.splitlines() if x and "error" not in x and "^" in x)


def test_a_run_that_tests_nothing_says_why_on_the_console(tmp_path, capsys):
    center = generate_center(agents=4, days=1, seed=5, gaming="none")
    calls = center.calls.to_pandas() if hasattr(center.calls, "to_pandas") else center.calls
    calls.to_csv(src := tmp_path / "day.csv", index=False)
    assert main(["gaming", "--calls", str(src), "--mapping", "contract", "--checks",
                 "short_calls_peer,transfer_dumping", "--out", str(tmp_path / "g")]) == 0
    err = capsys.readouterr().err
    assert "0 tests" in err and "no check could test these calls" in err
    assert "summary.txt gives each check's reason" in err


def test_summary_counts_rows_the_loader_quarantined(tmp_path, capsys):
    import pandas as pd

    center = generate_center(agents=20, days=10, seed=5, gaming="none")
    calls = center.calls.to_pandas() if hasattr(center.calls, "to_pandas") else center.calls
    raw = calls.copy()
    raw.loc[raw.index[:7], "outcome"] = "dropped"  # 7 rows the loader must quarantine
    src = tmp_path / "calls.csv"
    raw.to_csv(src, index=False)
    out = tmp_path / "g"
    assert main(["gaming", "--calls", str(src), "--mapping", "contract", "--out", str(out)]) == 0
    text = (out / "summary.txt").read_text()
    n = len(pd.read_csv(src))
    assert f"Calls: {n:,} rows read, {n - 7:,} valid." in text
    assert "quarantined by the loader: 7 rows" in text
    # and the console says so: a user reading only "N tests, 0 flagged" missed them
    err = capsys.readouterr().err
    assert f"7 of {n:,} rows set aside, not tested (unknown_outcome 7)" in err
    calls.to_csv(clean := tmp_path / "clean.csv", index=False)
    assert main(["gaming", "--calls", str(clean), "--mapping", "contract", "--out",
                 str(tmp_path / "g2")]) == 0
    assert "set aside" not in capsys.readouterr().err


# how a check reads an option's value: int(...) / float(...) around option(ctx, "x" / opt(ctx,
# "x" / ctx.options.get("x"), or flag_option(ctx, "x"
_CAST = re.compile(r'\b(int|float)\(\s*(?:opt|option)\(ctx,\s*"([a-z_0-9]+)"'
                   r'|\b(int|float)\(\s*ctx\.options\.get\("([a-z_0-9]+)"')
_FLAG = re.compile(r'\bflag_option\(ctx,\s*"([a-z_0-9]+)"')


def test_option_kinds_are_the_ones_the_checks_read():
    """Every option has a kind the CLI checks (a choice, a whole number, a number, yes/no),
    but free text (``okr_period``: a period label), and the kind is the one the checks cast
    it to: an option read with ``int(...)`` is a whole number, with ``float(...)`` a number,
    through ``flag_option`` yes or no."""
    from analysis.cli.gaming import CHOICE_OPTIONS, FLAG_OPTIONS, INTEGER_OPTIONS, NUMBER_OPTIONS

    kinds = [set(CHOICE_OPTIONS), INTEGER_OPTIONS, NUMBER_OPTIONS, FLAG_OPTIONS]
    assert sum(len(k) for k in kinds) == len(set().union(*kinds))  # one kind each
    assert CHECK_OPTIONS - set().union(*kinds) == {"okr_period"}
    ints, floats, flags = set(), set(), set()
    for path in (PACKAGE_DIR / "gaming").glob("*.py"):
        text = path.read_text()
        for m in _CAST.finditer(text):
            cast, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            (ints if cast == "int" else floats).add(name)
        flags |= set(_FLAG.findall(text))
    assert len(ints) > 10 and len(floats) > 3 and len(flags) > 8  # the scan finds them
    for name in ints - _CLI_FLAGS:
        assert name in INTEGER_OPTIONS, name
    for name in floats - _CLI_FLAGS:
        assert name in NUMBER_OPTIONS | INTEGER_OPTIONS, name
    for name in flags - _CLI_FLAGS:
        assert name in FLAG_OPTIONS, name


@pytest.mark.parametrize("kv, why", [
    ("quick_callback_h=abc", "a number is expected"),
    ("min_calls=2.5", "a whole number is expected"),
    ("eod_pooled=maybe", "true or false is expected"),
    ("agent_fdr=holm", "use one of BH, BY"),
    ("eod_traces=fisher", "use one of either, both, talk"),
])
def test_a_value_of_the_wrong_kind_exits_2_before_reading_data(kv, why, small_center, tmp_path,
                                                               capsys):
    """A typo in a value stops the run with its reason; it used to reach the check, which
    failed on it, and the run ended with exit code 0 and that check skipped."""
    out = tmp_path / "o"
    rc = main(["gaming", "--calls", str(small_center / "calls.parquet"), "--option", kv,
               "--out", str(out)])
    assert rc == 2
    assert _one_error_line(capsys) == f"ccpm gaming: error: --option {kv}: {why}"
    assert not out.exists()


def test_values_of_the_right_kind_run(small_center, tmp_path):
    out = tmp_path / "o"
    rc = main(["gaming", "--calls", str(small_center / "calls.parquet"),
               "--checks", "quick_callback_after_short",
               "--option", "quick_callback_h=4", "--option", "min_short=5",
               "--option", "eod_pooled=yes", "--option", "agent_fdr=by",
               "--option", "raise_errors=true", "--out", str(out)])
    assert rc == 0 and (out / "summary.txt").is_file()
