"""`keliu staff enrol|list|remove|suggestions|confirm|dismiss`: 员工 staff enrolment (staff never count as
customers) and the staff-suggestion inbox.

Enrolment turns crops (``--images``) or a labelled range of a clip (``--video``, via
``keliu.enrolment``) into signatures and stores them; who counts as staff is decided by the resolver,
not here. Must not print or keep the crops.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.cli.embed import signatures_of
from keliu.cli.options import DbOpt, SiteOpt, open_existing_store
from keliu.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(help="员工 Staff enrolment: staff never count as customers.", no_args_is_help=True)


@app.command("enrol")
def staff_enrol(
    site: SiteOpt,
    name: Annotated[str, typer.Option("--name", help="Who (or which uniform), e.g. 'Sales uniform'.")],
    images: Annotated[
        Path | None, typer.Option("--images", help="Directory of person crops of this member of staff.")
    ] = None,
    video: Annotated[
        str | None, typer.Option("--video", help="A clip (or camera) where only this person is in view.")
    ] = None,
    start_s: Annotated[
        float, typer.Option("--from-s", help="Labelled range start (s into the video).")
    ] = 0.0,
    end_s: Annotated[float | None, typer.Option("--to-s", help="Labelled range end (s).")] = None,
    track: Annotated[
        int | None,
        typer.Option("--track", help="With --video and several people in view: the track id to enrol."),
    ] = None,
    longest: Annotated[
        bool,
        typer.Option("--longest", help="With --video and several people in view: the one tracked longest."),
    ] = False,
    staff_id: Annotated[str | None, typer.Option("--id", help="Staff id (default: from the name).")] = None,
    db: DbOpt = None,
) -> None:
    """Enrol a member of staff (or a uniform) from crops or a labelled time range of a clip.

    With --video and more than one person in the range, nobody is picked: the error lists the tracks
    with their time on screen; choose one with --track ID or --longest."""
    from keliu.domain.visits import StaffMember
    from keliu.enrolment import signatures_from_clip

    if (images is None) == (video is None):
        raise ConfigError("give exactly one of --images DIR or --video CLIP")
    if images is not None and (track is not None or longest):
        raise ConfigError("--track and --longest go with --video")
    with open_existing_store(db) as store:
        store.site(site)  # an unknown site or store: refused before the clip is analysed
    signatures = (
        signatures_of(images)
        if images is not None
        else signatures_from_clip(video or "", start_s, end_s, track=track, longest=longest)
    )
    if not signatures:
        raise ConfigError("no usable view of a person found to enrol")
    member = StaffMember(staff_id or name, name, tuple(signatures))
    with open_existing_store(db) as store:
        store.site(site)  # unknown site: clear error
        store.enrol_staff(site, member)
    print(
        f"enrolled {member.name!r} ({member.staff_id}) with {len(signatures)} signature(s)", file=sys.stderr
    )


@app.command("list")
def staff_list(site: SiteOpt, db: DbOpt = None) -> None:
    """Enrolled staff of a site."""
    with open_existing_store(db) as store:
        for member in store.staff(site):
            print(f"{member.staff_id}\t{member.name}\t{len(member.signatures)} signature(s)")


@app.command("remove")
def staff_remove(
    site: SiteOpt, staff_id: Annotated[str, typer.Option("--id", help="Staff id.")], db: DbOpt = None
) -> None:
    """Remove an enrolment (its signatures are deleted)."""
    with open_existing_store(db) as store:
        if not store.remove_staff(site, staff_id):
            raise ConfigError(f"no staff {staff_id!r} at site {site!r}")


@app.command("suggestions")
def staff_suggestions(site: SiteOpt, db: DbOpt = None) -> None:
    """员工建议: people who looked like staff (present most of the business hours, or in a staff zone),
    waiting for a decision: `keliu staff confirm` enrols one, `keliu staff dismiss` drops one."""
    with open_existing_store(db) as store:
        pending = store.staff_suggestions(site)
    if not pending:
        print("no staff suggestions waiting", file=sys.stderr)
    for s in pending:
        usable = "" if s.has_signature else "  (no usable signature: enrol from a clip instead)"
        print(f"{s.person_key}\t{s.day}\tpresent {s.share:.0%}\t{'; '.join(s.reasons)}{usable}")


@app.command("confirm")
def staff_confirm(
    site: SiteOpt,
    person: Annotated[str, typer.Argument(help="The person key shown by `keliu staff suggestions`.")],
    day: Annotated[str, typer.Argument(help="The suggestion's day, YYYY-MM-DD.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Who they are (default: the person key).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Enrol a suggested person as staff, from the signature kept with the suggestion."""
    from keliu.cli.options import parse_day

    with open_existing_store(db) as store:
        staff_id = store.decide_staff_suggestion(site, person, parse_day(day, "DAY"), confirm=True, name=name)
    print(f"enrolled {staff_id} as staff of {site}", file=sys.stderr)


@app.command("dismiss")
def staff_dismiss(
    site: SiteOpt,
    person: Annotated[str, typer.Argument(help="The person key shown by `keliu staff suggestions`.")],
    day: Annotated[str, typer.Argument(help="The suggestion's day, YYYY-MM-DD.")],
    db: DbOpt = None,
) -> None:
    """Not a member of staff: drop the suggestion (and the signature kept with it)."""
    from keliu.cli.options import parse_day

    with open_existing_store(db) as store:
        store.decide_staff_suggestion(site, person, parse_day(day, "DAY"), confirm=False)
    print(f"dismissed {person} ({day})", file=sys.stderr)
