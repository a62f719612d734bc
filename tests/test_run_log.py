"""What a run leaves to read: <stage>.log as the record of the run, in plain text, and tables
that wrap rather than cut in a narrow terminal or a pipe."""

import re

import pytest

from conftest import TINY, mixed_table, run_console_script

# Long names, so that their table cells and "read otherwise with" hints cannot fit 80 columns.
LONG_NAMES = {"price": "price_paid_in_euros_at_the_till", "visits": "monthly_visits_to_the_store_by_member",
              "shop": "preferred_shop_location_of_member", "member": "holds_a_loyalty_card_this_year"}


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory):
    """A pretrain on a CSV of long column names, by the console script, stdout piped, COLUMNS=80."""
    folder = tmp_path_factory.mktemp("piped")
    mixed_table(0).rename(columns=LONG_NAMES).to_csv(folder / "shop.csv", index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "80")
        result = run_console_script(folder, "pretrain", "data=csv", f"data.path={folder / 'shop.csv'}", *TINY,
                                    "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr
    return result.stdout, folder / "run"


def table_cells(output: str, separator: str = "│") -> list[str]:
    """Each column of a rich table in `output`, its wrapped lines joined, whitespace removed: a
    cell folded over several lines reads whole again."""
    rows = [line.split(separator)[1:-1] for line in output.splitlines() if line.count(separator) >= 2]
    return ["".join(row[index] for row in rows).replace(" ", "") for index in range(len(rows[0]))]


def test_the_schema_table_wraps_names_and_hints_at_80_columns_when_piped(piped_run):
    stdout, _ = piped_run
    assert "…" not in stdout, stdout  # nothing cut
    headings, body = table_cells(stdout, "┃"), table_cells(stdout)
    assert "readotherwisewith" in headings
    names, hints = body[0], body[-1]
    for name in LONG_NAMES.values():
        assert name in names, stdout
    for name in (LONG_NAMES["price"], LONG_NAMES["visits"]):  # the numeric columns: read as categories otherwise
        assert f"data.categorical=[{name}]" in hints, stdout


def test_the_run_log_records_the_run_in_plain_text_and_the_console_ends_with_the_results(piped_run):
    stdout, run = piped_run
    record = (run / "pretrain.log").read_text()
    assert "\x1b[" not in record  # no colour codes
    for name in LONG_NAMES.values():
        assert name in record  # the schema table, whole: the log is wider than the console
    assert "data.categorical=[price_paid_in_euros_at_the_till]" in record
    start = re.search(r"pretrain: \d+ training rows .*, 6 steps, .* on cpu with 1 thread; writing to (.*)", record)
    assert start and start[1].strip() == str(run)
    for step in (2, 4):
        assert re.search(rf"step {step}: D loss [\d.]+, G loss [\d.]+, \d+ steps/s\n", record)
    assert re.search(r"step 6: D loss .*, fd [\d.]+, mmd2_rbf [\d.]+", record)  # the metrics at the end
    assert f"checkpoint: {run / 'checkpoints' / 'last.ckpt'}" in record
    assert re.search(r"final fd [\d.]+, mmd2_rbf [\d.]+", record)
    assert re.search(r"pretrain finished in process \d+, returning [\d.]+", record)
    # The process and return value are for the record alone: the console ends with the results.
    assert "finished in process" not in stdout
    assert stdout.rstrip().splitlines()[-1].startswith("final fd ")
    assert "in this run's own scaling" in record and "ganxfer evaluate" in record


def test_evaluate_logs_its_table_and_where_its_files_went(ganxfer, piped_run):
    _, run = piped_run
    out = ganxfer("evaluate", f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "metrics=[fd,kid]")
    record = (out / "evaluate.log").read_text()
    assert re.search(r"vs \d+ held-out real rows", record)  # the table's title
    for name in ("fd", "kid", "kid_std"):
        assert re.search(rf"│ {name} +│ +[\d.e+-]+ │", record), record
    assert f"wrote {out / 'metrics.json'} and the plots" in record


def test_sample_logs_the_whole_path_of_the_file_it_wrote(ganxfer, piped_run, tmp_path):
    """out= is relative to where the command ran, which sample.log, read later, does not know."""
    _, run = piped_run
    out = ganxfer("sample", f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "n=5", "out=synthetic.csv")
    assert (tmp_path / "synthetic.csv").is_file()
    assert f"wrote 5 rows x 4 columns to {tmp_path / 'synthetic.csv'}\n" in (out / "sample.log").read_text()
