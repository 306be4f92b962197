"""Official schemas of the Databricks system tables, as Spark types.

Each source has a Spark DDL column list in the package data `sql/ddl/system/<source>.ddl`,
written from the Databricks system-tables reference (a `-- source:` comment names the page).
The files are parsed here in pure Python, so no SparkSession is needed to know a schema.

Supported DDL: `name TYPE` columns separated by commas; types STRING, VARCHAR(n), CHAR(n),
BOOLEAN, TINYINT/BYTE, SMALLINT/SHORT, INT/INTEGER, BIGINT/LONG, FLOAT/REAL, DOUBLE, DATE,
TIMESTAMP, TIMESTAMP_NTZ, BINARY, DECIMAL(p,s), ARRAY<t>, MAP<k,v>, STRUCT<name[:] t, ...>;
backquoted names; optional `NOT NULL` and `COMMENT '...'`; `--` comments to end of line.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.errors import SqlTemplateError
from streaming_obs.sqlfiles import system_ddl

__all__ = ["DdlParseError", "parse_ddl", "system_schema", "system_schemas"]


class DdlParseError(SqlTemplateError):
    """A DDL column list could not be parsed."""


_SIMPLE: dict[str, DataType] = {
    "STRING": StringType(),
    "BOOLEAN": BooleanType(),
    "TINYINT": ByteType(),
    "BYTE": ByteType(),
    "SMALLINT": ShortType(),
    "SHORT": ShortType(),
    "INT": IntegerType(),
    "INTEGER": IntegerType(),
    "BIGINT": LongType(),
    "LONG": LongType(),
    "FLOAT": FloatType(),
    "REAL": FloatType(),
    "DOUBLE": DoubleType(),
    "DATE": DateType(),
    "TIMESTAMP": TimestampType(),
    "TIMESTAMP_LTZ": TimestampType(),
    "TIMESTAMP_NTZ": TimestampNTZType(),
    "BINARY": BinaryType(),
}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>--[^\n]*)
      | (?P<quoted>`(?:[^`]|``)*`)
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<number>\d+)
      | (?P<punct>[<>(),:])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise DdlParseError(f"unexpected character {text[pos:pos + 20]!r} at offset {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "comment":
            continue
        value = m.group(kind)
        if kind == "quoted":
            out.append(("name", value[1:-1].replace("``", "`")))
        else:
            out.append((kind, value))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise DdlParseError("unexpected end of DDL")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got.upper() != value:
            raise DdlParseError(f"expected {value!r}, got {got!r}")

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1].upper() == value

    def name(self) -> str:
        kind, value = self.take()
        if kind not in ("word", "name"):
            raise DdlParseError(f"expected a column name, got {value!r}")
        return value

    def dtype(self) -> DataType:
        kind, word = self.take()
        if kind != "word":
            raise DdlParseError(f"expected a type, got {word!r}")
        upper = word.upper()
        if upper == "ARRAY":
            self.expect("<")
            element = self.dtype()
            self.expect(">")
            return ArrayType(element, True)
        if upper == "MAP":
            self.expect("<")
            key = self.dtype()
            self.expect(",")
            value = self.dtype()
            self.expect(">")
            return MapType(key, value, True)
        if upper == "STRUCT":
            self.expect("<")
            fields: list[StructField] = []
            while not self.at(">"):
                fields.append(self.field(in_struct=True))
                if not self.at(">"):
                    self.expect(",")
            self.expect(">")
            return StructType(fields)
        if upper in ("DECIMAL", "DEC", "NUMERIC"):
            if self.at("("):
                self.take()
                precision = int(self.take()[1])
                scale = 0
                if self.at(","):
                    self.take()
                    scale = int(self.take()[1])
                self.expect(")")
                return DecimalType(precision, scale)
            return DecimalType(10, 0)
        if upper in ("VARCHAR", "CHAR"):
            self.expect("(")
            self.take()
            self.expect(")")
            return StringType()
        if upper in _SIMPLE:
            return _SIMPLE[upper]
        raise DdlParseError(f"unknown type {word!r}")

    def field(self, in_struct: bool) -> StructField:
        name = self.name()
        if in_struct and self.at(":"):
            self.take()
        dtype = self.dtype()
        nullable = True
        metadata: dict[str, str] = {}
        while True:
            if self.at("NOT"):
                self.take()
                self.expect("NULL")
                nullable = False
            elif self.at("COMMENT"):
                self.take()
                kind, text = self.take()
                if kind != "string":
                    raise DdlParseError("COMMENT needs a quoted string")
                metadata["comment"] = text[1:-1]
            else:
                break
        return StructField(name, dtype, nullable, metadata or None)

    def columns(self) -> StructType:
        fields: list[StructField] = []
        while self.peek() is not None:
            fields.append(self.field(in_struct=False))
            if self.peek() is not None:
                self.expect(",")
                if self.peek() is None:
                    raise DdlParseError("trailing comma after the last column")
        if not fields:
            raise DdlParseError("the DDL has no columns")
        names = [f.name.lower() for f in fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DdlParseError(f"duplicate column(s) {dupes}")
        return StructType(fields)


def parse_ddl(text: str) -> StructType:
    """Parse a Spark DDL column list (`a STRING, b STRUCT<c: INT>`) without a SparkSession.

    Raises:
        DdlParseError: the text is not a column list this parser understands.
    """
    return _Parser(text).columns()


@lru_cache(maxsize=None)
def system_schema(source: str) -> StructType:
    """The official schema of a system table by its short name (e.g. ``billing_usage``).

    Raises:
        KeyError: not one of `SOURCE_NAMES` or `OPTIONAL_SOURCE_NAMES`.
        DdlParseError: the shipped .ddl file is malformed.
    """
    return parse_ddl(system_ddl(source))


def system_schemas() -> dict[str, StructType]:
    """Every source's schema, by short name."""
    return {name: system_schema(name) for name in SOURCE_NAMES}
