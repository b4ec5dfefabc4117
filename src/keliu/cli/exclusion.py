"""`keliu exclusion add|list|remove`: 无效客流 exclusion classes (couriers, …) by exemplar crops and/or
colour rules.

This module checks the options and stores the class; applying it to visits is the resolver's work.
A class for a site needs that site's store; a global class may start a new store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keliu.cli.embed import signatures_of
from keliu.cli.options import DbOpt, SiteOpt, open_existing_store
from keliu.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="无效客流 Exclusion classes (couriers, …): by exemplar images and/or colour rules.",
    no_args_is_help=True,
)


def _colours(text: str | None, option: str) -> tuple:  # type: ignore[type-arg]
    from keliu.domain.visits import COLOUR_NAMES

    if not text:
        return ()
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in COLOUR_NAMES]
    if unknown:
        raise ConfigError(f"{option}: unknown colour(s) {', '.join(unknown)}; use {', '.join(COLOUR_NAMES)}")
    return names


@app.command("add")
def exclusion_add(
    class_id: Annotated[str, typer.Option("--id", help="Class id, e.g. courier:sf.")],
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 顺丰 SF.")],
    site: Annotated[str | None, typer.Option("--site", help="Site id (default: all sites).")] = None,
    upper: Annotated[str | None, typer.Option("--upper", help="Upper-body colours, comma-separated.")] = None,
    lower: Annotated[str | None, typer.Option("--lower", help="Lower-body colours (default any).")] = None,
    max_stay_s: Annotated[float | None, typer.Option("--max-stay-s", help="Only stays this short.")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Exemplar crops directory.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it switched off.")] = False,
    db: DbOpt = None,
) -> None:
    """Add or replace an exclusion class (e.g. couriers): exemplar crops and/or a colour rule."""
    from keliu.domain.visits import ColourRule, ExclusionClass
    from keliu.store import open_store

    upper_colours, lower_colours = _colours(upper, "--upper"), _colours(lower, "--lower")
    if lower_colours and not upper_colours:
        raise ConfigError("--lower needs --upper (a colour rule starts with the upper body)")
    rule = ColourRule(upper_colours, lower_colours, max_stay_s) if upper_colours else None
    exemplars = tuple(signatures_of(images)) if images is not None else ()
    if rule is None and not exemplars:
        raise ConfigError("give --upper colours and/or --images exemplars")
    # a site's class needs that site's store; a global class may start a new one
    with (open_existing_store(db) if site is not None else open_store(db)) as store:
        if site is not None:
            store.site(site)
        store.save_exclusion_class(site, ExclusionClass(class_id, name, exemplars, rule, not disabled))


@app.command("list")
def exclusion_list(site: SiteOpt, db: DbOpt = None) -> None:
    """Exclusion classes that apply to a site (its own and the global ones)."""
    with open_existing_store(db) as store:
        for cls in store.exclusion_classes(site):
            rule = cls.colour_rule
            described = (
                f"upper {'/'.join(rule.upper_colours)}"
                + (f", lower {'/'.join(rule.lower_colours)}" if rule.lower_colours else "")
                + (f", stay ≤ {rule.max_stay_s:.0f} s" if rule.max_stay_s else "")
                if rule
                else "no colour rule"
            )
            state = "on" if cls.enabled else "off"
            print(f"{cls.class_id}\t{cls.name}\t{state}\t{described}\t{len(cls.exemplars)} exemplar(s)")


@app.command("remove")
def exclusion_remove(
    class_id: Annotated[str, typer.Option("--id", help="Class id.")],
    site: Annotated[str | None, typer.Option("--site", help="Site id (default: the global class).")] = None,
    db: DbOpt = None,
) -> None:
    """Remove an exclusion class."""
    with open_existing_store(db) as store:
        if not store.remove_exclusion_class(site, class_id):
            raise ConfigError(f"no exclusion class {class_id!r} ({'site ' + site if site else 'global'})")
