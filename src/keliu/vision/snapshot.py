"""One frame of a video source, in memory: for `keliu camera snapshot` (which writes the PNG the user
asked for) and the API's device snapshot (a JPEG answered and never written anywhere).

keliu never stores frames; this module only reads one and hands it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keliu.errors import InputError
from keliu.vision.sources import ReconnectPolicy, open_source

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["encode_jpeg", "grab_frame"]

SNAPSHOT_POLICY = ReconnectPolicy(max_attempts=3, max_attempts_at_start=3)


def grab_frame(
    source_uri: str,
    at_s: float = 0.0,
    *,
    reconnect: ReconnectPolicy | None = None,
    open_timeout_s: float = 10.0,
) -> npt.NDArray[np.uint8]:
    """The first frame at or after ``at_s`` seconds of the source (BGR). ``InputError`` for a file
    that cannot be read or ends before ``at_s``; ``StreamUnavailable`` for a stream that does not
    answer within ``reconnect``'s attempts at start (default three)."""
    with open_source(
        source_uri, reconnect=reconnect or SNAPSHOT_POLICY, open_timeout_s=open_timeout_s
    ) as source:
        for frame in source.frames():
            if frame.t_s >= at_s:
                image: npt.NDArray[np.uint8] = frame.image_bgr
                return image
    raise InputError(f"the video ends before {at_s:g} s")


def encode_jpeg(image: npt.NDArray[np.uint8], quality: int = 85) -> bytes:
    """``image`` (BGR) as JPEG bytes, in memory."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError("the frame could not be encoded as JPEG")
    return bytes(encoded.tobytes())
