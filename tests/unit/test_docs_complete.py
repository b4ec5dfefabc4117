"""Every site-config key is documented in docs/configuration.md (issue 10: `recorded_at` and `visitors:`
were missing).

The pydantic model (keliu.config.SiteConfig) is walked recursively. A key is documented when its
dotted path (``cameras[].detector.input_wh``) appears in backticks anywhere in the page, or when its
own name appears as a YAML key (``input_wh:``) or in backticks in the section (``## …`` heading)
that the page gives to its top-level key: the heading names that key as `` `cameras:` ``. A
top-level key is documented by having such a section.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from keliu.config import SiteConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _models_in(annotation: object) -> Iterator[tuple[type[BaseModel], bool]]:
    """The pydantic models inside a field's type, with whether they sit in a list/tuple (``[]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
        return
    origin = typing.get_origin(annotation)
    in_sequence = origin in (list, tuple, set, frozenset)
    for arg in typing.get_args(annotation):
        for model, nested in _models_in(arg):
            yield model, nested or in_sequence
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return


def config_keys(model: type[BaseModel] = SiteConfig, prefix: str = "") -> list[str]:
    """Every field's dotted path, parents before children (``cameras[].lines[].inside``)."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        for child, in_sequence in _models_in(field.annotation):
            out.extend(config_keys(child, f"{path}{'[]' if in_sequence else ''}."))
    return list(dict.fromkeys(out))


def _sections(text: str) -> dict[str, str]:
    """Top-level key → the text of the ``##`` section whose heading names it as `` `key:` ``."""
    sections: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=## )", text):
        heading = block.splitlines()[0] if block.startswith("## ") else ""
        for key in re.findall(r"`([a-z_]+):`", heading):
            sections[key] = block
    return sections


def undocumented(text: str) -> list[str]:
    sections = _sections(text)
    missing = []
    for path in config_keys():
        if f"`{path}`" in text:
            continue
        top = path.split(".", 1)[0].removesuffix("[]")
        leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
        section = sections.get(top, "")
        if path == top and section:
            continue  # a top-level key is documented by its own section
        if section and (
            re.search(rf"(?m)^[\s\-{{]*{re.escape(leaf)}:|[{{,]\s*{re.escape(leaf)}:", section)
            or (f"`{leaf}`" in section)
        ):
            continue
        missing.append(path)
    return missing


def test_the_walk_sees_every_level_of_the_model() -> None:
    keys = config_keys()
    for expected in (
        "site.timezone",
        "visitors.business_hours",
        "cameras[].recorded_at",
        "cameras[].detector.input_wh",
        "cameras[].lines[].inside",
        "cameras[].zones[].polygon",
        "analytics.entrances[].group",
        "analytics.areas[].category",
    ):
        assert expected in keys
    assert len(keys) > 50


def test_the_check_can_fail() -> None:
    assert "cameras[].recorded_at" in undocumented("## Cameras (`cameras:`)\nsource: x\n")
    assert "visitors.batch_gap_s" in undocumented("`visitors.dedup_window_h`")
    assert "cameras[].recorded_at" not in undocumented("## Cameras (`cameras:`)\n    recorded_at: 2026\n")
    assert "cameras[].recorded_at" not in undocumented("| `cameras[].recorded_at` | … |")
    assert "visitors" in undocumented("visitors: is mentioned, but has no section")
    assert "visitors" not in undocumented("## Visitors (`visitors:`, optional)\n")


def test_every_config_key_is_in_docs_configuration_md() -> None:
    missing = undocumented(DOC.read_text(encoding="utf-8"))
    assert not missing, f"document these keys in {DOC.name}: {', '.join(missing)}"
