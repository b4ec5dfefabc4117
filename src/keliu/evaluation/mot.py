"""MOTChallenge text files: ``frame,id,x,y,w,h,conf,...`` with 1-based frames and pixel boxes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MotRow", "interpolate_gaps", "read_mot", "write_mot"]


@dataclass(frozen=True)
class MotRow:
    frame: int  # 1-based
    track_id: int
    x: float
    y: float
    w: float
    h: float
    conf: float = 1.0

    @property
    def foot_point(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h)


def read_mot(path: Path, *, mot16_pedestrians_only: bool = True) -> list[MotRow]:
    """Read a MOT file. For MOT16 ground truth (9 columns: ..., considered, class, visibility) keep rows to be
    considered (column 7 == 1) of class pedestrian (column 8 == 1)."""
    rows: list[MotRow] = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        cols = [float(v) for v in line.split(",")]
        if mot16_pedestrians_only and len(cols) == 9 and (cols[6] != 1 or cols[7] != 1):
            continue
        conf = cols[6] if len(cols) > 6 else 1.0
        rows.append(MotRow(int(cols[0]), int(cols[1]), cols[2], cols[3], cols[4], cols[5], conf))
    return rows


def interpolate_gaps(rows: Iterable[MotRow], *, max_gap_frames: int) -> list[MotRow]:
    """Fill frames a track skipped (frame stride, short occlusion) by linear interpolation."""
    by_track: dict[int, list[MotRow]] = {}
    for row in rows:
        by_track.setdefault(row.track_id, []).append(row)
    out: list[MotRow] = []
    for track_rows in by_track.values():
        track_rows.sort(key=lambda r: r.frame)
        for prev, cur in itertools.pairwise(track_rows):
            out.append(prev)
            gap = cur.frame - prev.frame
            if 1 < gap <= max_gap_frames:
                for k in range(1, gap):
                    a = k / gap
                    out.append(
                        MotRow(
                            prev.frame + k,
                            prev.track_id,
                            prev.x + a * (cur.x - prev.x),
                            prev.y + a * (cur.y - prev.y),
                            prev.w + a * (cur.w - prev.w),
                            prev.h + a * (cur.h - prev.h),
                            min(prev.conf, cur.conf),
                        )
                    )
        out.append(track_rows[-1])
    out.sort(key=lambda r: (r.frame, r.track_id))
    return out


def write_mot(rows: Iterable[MotRow], path: Path) -> None:
    """Write rows as ``frame,id,x,y,w,h,conf,-1,-1,-1``."""
    with Path(path).open("w") as fh:
        for r in rows:
            fh.write(
                f"{r.frame},{r.track_id},{r.x:.2f},{r.y:.2f},{r.w:.2f},{r.h:.2f},{r.conf:.3f},-1,-1,-1\n"
            )
