"""Reference data (参数设置) from CSV files: weather (天气), manual counts (准确率稽核), targets (目标) and
business hours (营业时间), as ``keliu import KIND`` reads them (and an API can take the same uploads).

:func:`parse_import_csv` decodes and checks every line of one file before anything is written:
a :class:`keliu.errors.ConfigError` names ``FILE:LINE: COLUMN: problem`` (and how many more problems
there are). :func:`save_import` then checks the rows against the site as stored (a manual count must
name a camera line the site has) and saves them in one transaction.

Encodings: UTF-8 (with or without the byte-order mark), else GB18030 (which includes GBK and GB2312:
what Excel saves as "CSV" on a Chinese Windows). A file with NUL bytes or control characters, UTF-16
("Unicode text") or bytes that are neither is refused as not a CSV text file. Files larger than
``MAX_CSV_BYTES`` are refused. Days and times must lie in ``keliu.domain.bounds``.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from keliu.domain.bounds import FIRST_DAY, LAST_DAY, day_in_bounds
from keliu.errors import ConfigError
from keliu.store import ManualCount, OpeningHours, Store, Target, WeatherDay

__all__ = [
    "IMPORT_KINDS",
    "MAX_CSV_BYTES",
    "ImportBatch",
    "ImportKind",
    "decode_csv",
    "import_kind",
    "parse_import_csv",
    "read_import_csv",
    "save_import",
]

MAX_CSV_BYTES = 16 * 1024 * 1024  # ~100 000 lines of manual counts; a reference file is far smaller
_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gb18030": "GB18030/GBK"}


@dataclass(frozen=True)
class _Column:
    name: str
    required: bool
    parse: Callable[[str], Any]  # raises ValueError with the message to show


@dataclass(frozen=True)
class ImportKind:
    """One ``keliu import KIND``: its columns, how a row becomes a record, the record's unique key and
    how the records are saved."""

    what: str
    columns: tuple[_Column, ...]
    build: Callable[[dict[str, Any]], Any]  # raises _RowError for a problem across columns
    key: Callable[[Any], Any]
    save: Callable[[Store, str, list[Any]], None]

    @property
    def header(self) -> str:
        return ",".join(c.name for c in self.columns)


@dataclass(frozen=True)
class ImportBatch:
    """The checked records of one CSV file: ``lines[i]`` is the file line of ``records[i]``."""

    kind: str
    source: str  # the file name, for messages
    encoding: str  # "UTF-8", "UTF-8 with BOM" or "GB18030/GBK"
    records: tuple[Any, ...]
    lines: tuple[int, ...]

    @property
    def what(self) -> str:
        return _KINDS[self.kind].what


class _RowError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _number_of(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a number")
    return value


def _count_of(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{value} must be >= 0")
    return value


def _non_negative(text: str) -> float:
    value = _number_of(text)
    if value < 0:
        raise ValueError(f"{text} must be >= 0")
    return value


_OUT_OF_BOUNDS = f"keliu handles dates from {FIRST_DAY} to {LAST_DAY}"


def _day_of(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD") from None
    if not day_in_bounds(value):
        raise ValueError(f"{text}: {_OUT_OF_BOUNDS}")
    return value


def _instant_of(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time, e.g. 2025-03-05T10:00+08:00") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset; write e.g. 2025-03-05T10:00+08:00")
    if not day_in_bounds(value.date()):
        raise ValueError(f"{text}: {_OUT_OF_BOUNDS}")
    return value


def _year_of(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a year") from None
    if not FIRST_DAY.year <= value <= LAST_DAY.year:
        raise ValueError(f"{value} is not a year from {FIRST_DAY.year} to {LAST_DAY.year}")
    return value


def _month_of(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a month 1–12 (empty: the whole year)") from None
    if not 1 <= value <= 12:
        raise ValueError(f"{value} is not a month 1–12 (empty: the whole year)")
    return value


def _target_metric_of(text: str) -> str:
    if text not in ("total", "deduplicated"):
        raise ValueError(f"{text!r}: use total (总客流) or deduplicated (去重客流)")
    return text


_WEEKDAYS = {
    **{str(i): i for i in range(7)},
    **{n: i for i, n in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{
        n: i
        for i, n in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    },
    **{f"周{c}": i for i, c in enumerate("一二三四五六日")},
    "周天": 6,
}


def _weekday_of(text: str) -> int:
    value = _WEEKDAYS.get(text.lower())
    if value is None:
        raise ValueError(f"{text!r} is not a weekday: use 0–6 (0 = Monday) or mon … sun")
    return value


def _clock_of(text: str) -> int:
    """HH:MM as minutes after local midnight; 24:00 is the end of the day."""
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and len(hh) <= 2):
        raise ValueError(f"{text!r} is not a time HH:MM")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > 24 * 60:
        raise ValueError(f"{text!r} is not a time from 00:00 to 24:00")
    return minutes


def _text_of(text: str) -> str:
    return text


def _weather(row: dict[str, Any]) -> WeatherDay:
    high, low = row["temp_high"], row["temp_low"]
    if high is not None and low is not None and low > high:
        raise _RowError("temp_low", f"{low:g} is above temp_high {high:g}")
    return WeatherDay(row["day"], row["condition"], high, low, row["precipitation_mm"])


def _manual_count(row: dict[str, Any]) -> Any:
    if row["end"] <= row["start"]:
        raise _RowError("end", f"{row['end'].isoformat()} is not after start {row['start'].isoformat()}")
    if bool(row["camera_id"]) != bool(row["line_id"]):
        raise _RowError(
            "line_id" if row["camera_id"] else "camera_id",
            "give camera_id and line_id together (an entrance), or neither (the whole site)",
        )
    return ManualCount(
        row["start"], row["end"], row["entries"], row["camera_id"] or "", row["line_id"] or "",
        row["batches"], row["note"],
    )  # fmt: skip


def _target(row: dict[str, Any]) -> Any:
    return Target(row["year"], row["month"], row["metric"], row["value"])


def _opening(row: dict[str, Any]) -> Any:
    if row["opens"] >= 24 * 60:
        raise _RowError("opens", "24:00 is the end of a day: open at 00:00 instead")
    # a closing at or before the opening is on the next day (overnight; equal: 24 hours)
    return OpeningHours(row["weekday"], row["opens"], row["closes"])


_KINDS: dict[str, ImportKind] = {
    "weather": ImportKind(
        "weather day",
        (
            _Column("day", True, _day_of),
            _Column("condition", True, _text_of),
            _Column("temp_high", False, _number_of),
            _Column("temp_low", False, _number_of),
            _Column("precipitation_mm", False, _non_negative),
        ),
        _weather,
        lambda w: ("day", w.day),
        lambda store, site, rows: store.save_weather(site, rows),
    ),
    "manual-counts": ImportKind(
        "manual count",
        (
            _Column("start", True, _instant_of),
            _Column("end", True, _instant_of),
            _Column("entries", True, _count_of),
            _Column("camera_id", False, _text_of),
            _Column("line_id", False, _text_of),
            _Column("batches", False, _count_of),
            _Column("note", False, _text_of),
        ),
        _manual_count,
        lambda m: ("start", (m.start, m.end, m.camera_id, m.line_id)),
        lambda store, site, rows: store.save_manual_counts(site, rows),
    ),
    "targets": ImportKind(
        "target",
        (
            _Column("year", True, _year_of),
            _Column("month", False, _month_of),
            _Column("metric", True, _target_metric_of),
            _Column("value", True, _non_negative),
        ),
        _target,
        lambda g: ("metric", (g.year, g.month, g.metric)),
        lambda store, site, rows: store.set_targets(site, rows),
    ),
    "business-hours": ImportKind(
        "weekday",
        (
            _Column("weekday", True, _weekday_of),
            _Column("opens", True, _clock_of),
            _Column("closes", True, _clock_of),
        ),
        _opening,
        lambda h: ("weekday", h.weekday),
        lambda store, site, rows: store.set_business_hours(site, rows),
    ),
}


IMPORT_KINDS = tuple(_KINDS)


def import_kind(kind: str) -> ImportKind:
    """The spec of ``kind`` (one of :data:`IMPORT_KINDS`)."""
    spec = _KINDS.get(kind)
    if spec is None:
        raise ConfigError(f"unknown import {kind!r}; use one of {', '.join(_KINDS)}")
    return spec


def _control_line(text: str) -> int | None:
    """The line of the first control character other than tab and line ends (a binary file), or None."""
    for index, char in enumerate(text):
        if char not in "\t\r\n" and unicodedata.category(char) == "Cc":
            return text.count("\n", 0, index) + 1
    return None


def decode_csv(data: bytes, source: str) -> tuple[str, str]:
    """``(text, encoding name)`` of a CSV file's bytes: UTF-8 with a byte-order mark, UTF-8, then
    GB18030 (GBK); a :class:`ConfigError` for anything that is not text in one of them."""
    not_text = f"{source}: not a CSV text file"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(
            f'{source}: UTF-16 text (Excel\'s "Unicode text"); save it as "CSV UTF-8" or "CSV" '
            "(nothing was imported)"
        )
    if b"\x00" in data:
        raise ConfigError(f"{not_text} (it contains NUL bytes; nothing was imported)")
    candidates = ("utf-8-sig",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        line = _control_line(text)
        if line is not None:
            raise ConfigError(f"{not_text} (control characters on line {line}; nothing was imported)")
        return text, _ENCODING_NAMES[encoding]
    raise ConfigError(
        f'{not_text}: its bytes are neither UTF-8 nor GB18030/GBK; save it as "CSV UTF-8" '
        "(nothing was imported)"
    )


def _too_large(source: str) -> ConfigError:
    return ConfigError(
        f"{source}: larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB; a reference CSV is far smaller "
        "(split it; nothing was imported)"
    )


def read_import_csv(kind: str, path: Path) -> ImportBatch:
    """:func:`parse_import_csv` of the file at ``path`` (at most ``MAX_CSV_BYTES``)."""
    import_kind(kind)
    try:
        if not path.is_file():
            raise ConfigError(
                f"{path}: is a directory, not a CSV file" if path.is_dir() else f"{path}: no such file"
            )
        if path.stat().st_size > MAX_CSV_BYTES:
            raise _too_large(str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    return parse_import_csv(kind, data, str(path))


def parse_import_csv(kind: str, data: bytes, source: str) -> ImportBatch:
    """The records of a ``keliu import KIND`` CSV (its bytes; ``source`` names it in messages), every
    line checked; a :class:`ConfigError` naming the file, line and column of the first problem (and
    how many more there are) otherwise."""
    spec = import_kind(kind)
    if len(data) > MAX_CSV_BYTES:
        raise _too_large(source)
    text, encoding = decode_csv(data, source)
    errors: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    records: list[Any] = []
    lines: list[int] = []
    seen: dict[Any, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = [c.lower() for c in cells]
                known = {c.name for c in spec.columns}
                unknown = [c for c in header if c not in known]
                missing = [c.name for c in spec.columns if c.required and c.name not in header]
                doubled = sorted({c for c in header if header.count(c) > 1})
                problems = (
                    ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
                    + ([f"missing column(s) {', '.join(missing)}"] if missing else [])
                    + ([f"repeated column(s) {', '.join(doubled)}"] if doubled else [])
                )
                if problems:
                    raise ConfigError(
                        f"{source}:{line}: header: {'; '.join(problems)}; expected {spec.header} "
                        "(nothing was imported)"
                    )
                continue
            if len(cells) != len(header):
                hint = "" if len(cells) > len(header) else " (leave a value empty, but keep its comma)"
                errors.append(f"{source}:{line}: {len(cells)} fields, but the header has {len(header)}{hint}")
                continue
            values = dict(zip(header, cells, strict=True))
            parsed: dict[str, Any] = {}
            bad = False
            for column in spec.columns:
                text_value = values.get(column.name, "")
                if text_value == "":
                    if column.required:
                        errors.append(f"{source}:{line}: {column.name}: missing value")
                        bad = True
                    parsed[column.name] = None
                    continue
                try:
                    parsed[column.name] = column.parse(text_value)
                except ValueError as exc:
                    errors.append(f"{source}:{line}: {column.name}: {exc}")
                    bad = True
            if bad:
                continue
            try:
                record = spec.build(parsed)
            except _RowError as exc:
                errors.append(f"{source}:{line}: {exc.column}: {exc}")
                continue
            column_name, key = spec.key(record)
            if key in seen:
                errors.append(f"{source}:{line}: {column_name}: the same {spec.what} as on line {seen[key]}")
                continue
            seen[key] = line
            records.append(record)
            lines.append(line)
    except csv.Error as exc:
        raise ConfigError(
            f"{source}:{reader.line_num}: not valid CSV: {exc} (nothing was imported)"
        ) from None
    if header is None:
        raise ConfigError(
            f"{source}: empty; the first line must be the header {spec.header} (nothing was imported)"
        )
    _raise_first(errors)
    if not records:
        raise ConfigError(f"{source}: no data lines after the header; nothing was imported")
    return ImportBatch(kind, source, encoding, tuple(records), tuple(lines))


def _raise_first(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - 1} more problem(s); nothing was imported)" if len(errors) > 1 else ""
        raise ConfigError(errors[0] + (more or " (nothing was imported)"))


def _check_lines(store: Store, site_id: str, batch: ImportBatch) -> None:
    """Every manual count of an entrance names a camera and line the site has (``keliu process``
    stores them from the site config)."""
    cameras = store.cameras(site_id)
    lines = {c.camera_id: {line.id for line in c.lines} for c in cameras}
    listed = ", ".join(f"{c}/{line}" for c in sorted(lines) for line in sorted(lines[c])) or "none"
    errors: list[str] = []
    for line_no, count in zip(batch.lines, batch.records, strict=True):
        if not count.camera_id:
            continue  # the whole site
        if count.camera_id not in lines:
            problem = f"camera_id: no camera {count.camera_id!r} at site {site_id}"
        elif count.line_id not in lines[count.camera_id]:
            problem = f"line_id: no line {count.line_id!r} on camera {count.camera_id!r} at site {site_id}"
        else:
            continue
        errors.append(f"{batch.source}:{line_no}: {problem}; its camera/line pairs are: {listed}")
    _raise_first(errors)


def save_import(store: Store, site_id: str, batch: ImportBatch) -> int:
    """Check ``batch`` against the stored site (unknown site: :class:`keliu.errors.InputError`;
    a manual count of a line the site does not have: :class:`ConfigError`) and save it; the number of
    records saved."""
    store.site(site_id)
    if batch.kind == "manual-counts":
        _check_lines(store, site_id, batch)
    _KINDS[batch.kind].save(store, site_id, list(batch.records))
    return len(batch.records)
