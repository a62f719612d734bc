"""Gaps in the data (empty cells, NA, NaN) and the three ways of handling them, data.missing:

drop    leave out every row with a gap (here, when the table is loaded)
impute  fill each gap: numbers with the column's training median, categories with the most
        frequent one (when the rows are encoded); samples have no gaps
model   the default: learn where the gaps are (a missing indicator per numeric column, a
        "missing" category per categorical one), so samples have gaps at the observed rate

What each choice changed is logged (printed, and kept in the run's log file)."""

import logging

import pandas as pd

from ganxfer.errors import UserError

log = logging.getLogger(__name__)


def check_no_empty_columns(table: pd.DataFrame) -> None:
    empty = [str(name) for name in table.columns if table[name].isna().all()]
    if empty:
        raise UserError(f"column(s) {', '.join(map(repr, empty))} have no values at all: "
                        f"leave them out with data.drop=[{','.join(empty)}]")


def drop_incomplete_rows(table: pd.DataFrame, label: str | None) -> pd.DataFrame:
    """data.missing=drop: rows with a gap in any generated column (the label aside) are left out."""
    generated = table.drop(columns=[label]) if label else table
    incomplete = generated.isna().any(axis=1)
    if not incomplete.any():
        return table
    if incomplete.all():
        raise UserError(f"every one of the {len(table)} rows has a gap, so data.missing=drop leaves "
                        "nothing: use data.missing=model or data.missing=impute")
    counts = generated.isna().sum()
    log.info("data.missing=drop: left out %d of %d rows for their gaps (%s)",
             incomplete.sum(), len(table), _per_column(counts[counts > 0]))
    return table[~incomplete]


def report_gaps(table: pd.DataFrame, policy: str) -> None:
    """Log how many training values were filled (impute) or are learnt as gaps (model)."""
    counts = table.isna().sum()
    counts = counts[counts > 0]
    if counts.empty:
        return
    total, rows = int(counts.sum()), len(table)
    if policy == "impute":
        log.info("data.missing=impute: filled %d gap(s) in %d column(s) with the median or the most "
                 "frequent category (%s; of %d rows)", total, len(counts), _per_column(counts), rows)
    else:
        log.info("data.missing=model: %d gap(s) in %d column(s) (%s; of %d rows) are learnt, so "
                 "samples have gaps at the same rates", total, len(counts), _per_column(counts), rows)


def _per_column(counts: pd.Series) -> str:
    return ", ".join(f"{name}: {count}" for name, count in counts.items())
