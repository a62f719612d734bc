"""The schema as a person reads it at the start of a run: one line per column (one line in all
for images), saying how each column was read, how it is encoded, and which data key reads it
otherwise."""

from rich.table import Table
from rich.text import Text

from ganxfer.data.columns import CategoricalColumn, ConstantColumn
from ganxfer.data.schema import Schema


def describe(schema: Schema) -> Table | Text:
    if schema.image_shape is not None:
        return _describe_images(schema)
    table = Table(title=f"data schema: {len(schema.columns)} columns -> {schema.width} generator outputs")
    for heading in ("column", "kind", "encoding", "values", "missing", "read otherwise with"):
        table.add_column(heading, overflow="fold")  # long names and hints wrap, never cut, at 80 columns
    for column in schema.columns:
        missing = f"{column.missing_rate:.1%}" if column.missing_rate else ""
        if column.missing_rate and column.models_gaps:
            missing += " (learnt)"
        table.add_row(column.name, _kind(column), _encoding(column), _values(column), missing,
                      Text(_other_reading(column)))  # Text: the keys' brackets are not markup
    return table


def _kind(column) -> str:
    if getattr(column, "levels", None) is not None:
        return f"{column.kind}, keeps to its {len(column.levels)} values"
    return column.kind


def _other_reading(column) -> str:
    """The data key that reads this column another way (see data/inference.py for the rule)."""
    name = column.name
    if isinstance(column, ConstantColumn):
        return ""
    if isinstance(column, CategoricalColumn):
        numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in column.values)
        return f"data.continuous=[{name}] (as numbers)" if numbers else ""
    if column.levels is not None:
        return f"data.continuous=[{name}] (any value), data.categorical=[{name}]"
    return f"data.categorical=[{name}]"


def _encoding(column) -> str:
    if isinstance(column, ConstantColumn):
        return "none (repeated)" + (" + missing flag" if column.indicator else "")
    if isinstance(column, CategoricalColumn):
        return f"one-hot ({len(column.categories)})"
    return column.scaler.name + (" + missing flag" if column.indicator else "")


def _values(column, shown: int = 5) -> str:
    if isinstance(column, ConstantColumn):
        return repr(column.value)
    if isinstance(column, CategoricalColumn):
        values = column.values
        more = f", ... ({len(values)} in all)" if len(values) > shown else ""
        return ", ".join(map(repr, values[:shown])) + more
    return f"{column.low:g} to {column.high:g}"


def _describe_images(schema: Schema) -> Text:
    channels, height, width = schema.image_shape
    pixel = schema.columns[0]
    numbers = "integers" if pixel.kind == "integer" else "decimals"
    return Text(f"data schema: images of {channels}x{height}x{width} ({len(schema.columns)} pixel columns), "
                f"{numbers} in [{pixel.low:g}, {pixel.high:g}] scaled to [-1, 1]")
