"""The metric catalogue (keliu.analytics.catalogue) is the one list of metrics: every entry is
documented in docs/metrics.md, every `keliu analytics` METRIC and option comes from it, each entry's
declared result type is what its query returns, and its checks speak the caller's spelling.

No store is opened here (tests/integration/test_cli_analytics.py runs every metric on SQLite and
PostgreSQL, through the command line and through ``run_metric``).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from keliu.analytics import metrics
from keliu.analytics.catalogue import METRIC_NAMES, METRICS, PARAMETERS, check_call
from keliu.analytics.params import API, COMMAND_LINE
from keliu.cli import app
from keliu.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _command_line_table() -> dict[str, str]:
    """METRIC → its 指标 cell, from the table of docs/metrics.md's "Command line" section."""
    section = DOC.read_text(encoding="utf-8").split("\n## Command line", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"(?m)^\| `([a-z-]+)` \| ([^|]+) \|", section))


def test_every_catalogue_entry_is_documented_and_every_documented_metric_exists() -> None:
    table = _command_line_table()
    assert list(table) == list(METRIC_NAMES), "docs/metrics.md's METRIC table differs from the catalogue"
    for name, spec in METRICS.items():
        assert table[name].strip().startswith(spec.zh), (name, table[name], spec.zh)


def test_entries_are_complete() -> None:
    for name, spec in METRICS.items():
        assert spec.name == name and re.fullmatch(r"[a-z]+(-[a-z]+)*", name)
        assert re.search(r"[\u4e00-\u9fff]", spec.zh), name  # a Chinese name
        assert spec.en and spec.description and spec.site in ("optional", "required", "none"), name
        assert spec.params and set(spec.params) <= set(PARAMETERS), name
        assert len(set(spec.params)) == len(spec.params), name


def _analytics_command() -> typing.Any:
    return typer.main.get_command(app).commands["analytics"]  # type: ignore[attr-defined]


def test_every_analytics_metric_and_option_of_the_command_line_comes_from_the_catalogue() -> None:
    command = _analytics_command()
    listed = re.findall(r"(?m)^  (\S+)\s{2,}(.+)$", command.help.split("METRIC is one of:", 1)[1])
    assert [name for name, _ in listed] == list(METRIC_NAMES)
    for name, text in listed:
        assert text == f"{METRICS[name].zh} {METRICS[name].description}"
    options = {o for p in command.params for o in p.opts if o.startswith("--")}
    assert options - {"--site", "--json", "--db"} == {COMMAND_LINE(p) for p in PARAMETERS}

    # a name the catalogue does not have is refused with the catalogue's list, before any store
    result = CliRunner().invoke(app, ["analytics", "visitors", "--db", "sqlite:////nonexistent/k.db"])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == f"unknown metric 'visitors'; use one of: {', '.join(METRIC_NAMES)}"


def _field_types(cls: type) -> tuple[typing.Any, ...]:
    hints = typing.get_type_hints(cls, globalns=vars(metrics))
    return tuple(hints[f.name] for f in dataclasses.fields(cls))


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_the_declared_result_type_is_what_the_query_returns(name: str) -> None:
    spec = METRICS[name]
    result = spec.result_type()
    returned = typing.get_type_hints(spec.query_function())["return"]
    if result == returned:
        return
    # else a dataclass of this catalogue naming the parts of the query's tuple, or a tuple of such rows
    assert typing.get_origin(returned) is tuple, (name, result, returned)
    if typing.get_origin(result) is tuple:  # tuple[Presence, ...] for tuple[tuple[str, int], ...]
        (row, more), (row_returned, more_returned) = typing.get_args(result), typing.get_args(returned)
        assert more is more_returned is Ellipsis, name
        assert _field_types(row) == typing.get_args(row_returned), name
    else:
        assert _field_types(result) == typing.get_args(returned), name


def test_checks_before_the_store_speak_the_callers_spelling() -> None:
    with pytest.raises(ConfigError, match=r"^unknown metric 'visitors'; use one of: traffic, trend, "):
        check_call("visitors", {})
    with pytest.raises(ConfigError) as api:
        check_call("traffic", {"day": "2025-03-05", "other_zone": "A"})
    assert str(api.value) == "metric traffic: other_zone does not apply (it takes day, from, to)"
    with pytest.raises(ConfigError) as cli:
        check_call("traffic", {"day": "2025-03-05", "other_zone": "A"}, COMMAND_LINE)
    assert str(cli.value) == "analytics traffic: --other-zone does not apply (it takes --day, --from, --to)"
    with pytest.raises(ConfigError, match=r"^metric occupancy: missing parameter site \(a site id\)$"):
        check_call("occupancy", {"at": "2025-03-05T11:30"}, API)
    with pytest.raises(ConfigError, match=r"^metric multi-store: site does not apply"):
        check_call("multi-store", {"site": "s1", "day": "2025-03-05"})
    # not given: None and False (an unset command-line flag)
    assert (
        check_call("funnel", {"site": None, "day": "2025-03-05", "zone": None, "top": False}).name == "funnel"
    )
