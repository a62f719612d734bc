"""Reading tables (CSV files, the bundled digits), splitting them, and the Schema that maps
rows to the generator's scale and back."""

from ganxfer.data.prepare import TrainingData, prepare
from ganxfer.data.schema import Schema
from ganxfer.data.tables import DataSplit, load_table, split_table

__all__ = ["DataSplit", "Schema", "TrainingData", "load_table", "prepare", "split_table"]
