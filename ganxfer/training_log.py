"""The training log, train_log.csv: one row per logged step, written by every training run
(training/writer.py) and read by its figures (figures.py) and by `ganxfer report`."""

# The columns of every training log row besides metrics: bookkeeping, not measures of quality.
LOG_COLUMNS = ("step", "d_loss", "g_loss", "skipped", "steps_per_s")
