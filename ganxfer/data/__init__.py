"""Reading tables (CSV files, the bundled digits, image CSVs), splitting them, and the Schema
that maps rows to the generator's outputs and back."""

from ganxfer.data.frames import at_most
from ganxfer.data.inference import FitOptions
from ganxfer.data.prepare import StreamOptions, TrainingData, prepare
from ganxfer.data.schema import Schema
from ganxfer.data.split import DataSplit, split_table
from ganxfer.data.summary import describe
from ganxfer.data.tables import load_table

__all__ = ["DataSplit", "FitOptions", "Schema", "StreamOptions", "TrainingData", "at_most", "describe", "load_table", "prepare", "split_table"]
