"""Frame sources: video files, RTSP/HTTP streams and USB cameras, decoded with PyAV.

`open_source` turns a URI into a `FrameSource` that yields `Frame`s (a BGR image, the true frame
index, a timestamp). Files are read synchronously and end at EOF; ``t_s`` is exactly
``index / fps``. Live sources (``rtsp://``, ``http(s)://``, ``usb:N``, ``/dev/videoN``) are read by a
background thread into a small bounded buffer (the oldest frames are dropped when the consumer is
slow), survive outages by reconnecting with exponential back-off, and report each outage as an
`Outage`. Their ``t_s`` is the stream's presentation time anchored to the wall clock, in seconds
since the source's first frame; ``started_wall + t_s`` is the frame's epoch time.

Must not: write frames (or anything derived from them) to disk, keep more than a few frames,
log or raise messages that contain credentials, or hang forever on a dead server (every open and
read has a timeout). Knows nothing of detection, counting or storage.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import av
import av.error
import numpy as np

from keliu.errors import ConfigError, InputError, StreamUnavailable

__all__ = [
    "Frame",
    "FrameSource",
    "Outage",
    "ReconnectPolicy",
    "mask_credentials",
    "open_source",
]

log = logging.getLogger("keliu.sources")

_LIVE_SCHEMES = ("rtsp", "rtsps", "http", "https")
_SECRET_QUERY_KEYS = re.compile(r"pass|pwd|token|secret|key|auth|sig", re.IGNORECASE)
_LIVE_BUFFER_FRAMES = 8  # frames waiting for a slow consumer (8 × 3 MB of YUV at 1080p)
_MAX_PENDING_EVENTS = 64  # outage notices waiting for the consumer
_MAX_LAG_S = 5.0  # presentation time may trail the wall clock this much before re-anchoring
_MAX_LEAD_S = 5.0  # ... and lead it by this much
_DEFAULT_LIVE_FPS = 25.0
_DROP_LOG_INTERVAL_S = 10.0
_DROPS_WORTH_LOGGING = 25  # a burst after (re)connecting drops a few; say so only when it persists


# ---------------------------------------------------------------------------------------------
# Public value types


@dataclass(frozen=True, eq=False)  # eq=False: compared and hashed by identity (arrays have no ==)
class Frame:
    """One decoded frame. ``index`` counts every decoded frame of the source, yielded or not.

    ``t_s``: files, exactly ``index / fps``; live sources, presentation time in seconds since the
    source opened, anchored to the wall clock (outages show as gaps). ``wall_time``: `time.time()`
    when the frame was decoded.
    """

    index: int
    t_s: float
    image_bgr: np.ndarray
    wall_time: float


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential back-off for live sources: waits initial_s, initial_s·factor, … capped at max_s.

    ``max_attempts`` counts connection attempts per outage; ``None`` retries for ever.
    ``max_attempts_at_start`` limits the attempts of the very first connection (a wrong URL should
    fail fast while a camera that drops later is retried for ever); ``None`` follows ``max_attempts``.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    max_attempts: int | None = None
    max_attempts_at_start: int | None = None

    def __post_init__(self) -> None:
        if not self.initial_s > 0:
            raise ConfigError(f"reconnect: initial_s must be > 0, got {self.initial_s}")
        if not self.max_s >= self.initial_s:
            raise ConfigError(f"reconnect: max_s must be >= initial_s, got {self.max_s}")
        if not self.factor >= 1:
            raise ConfigError(f"reconnect: factor must be >= 1, got {self.factor}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigError(f"reconnect: max_attempts must be >= 1 or unset, got {self.max_attempts}")
        if self.max_attempts_at_start is not None and self.max_attempts_at_start < 1:
            raise ConfigError(
                f"reconnect: max_attempts_at_start must be >= 1 or unset, got {self.max_attempts_at_start}"
            )

    def delay_s(self, wait_number: int) -> float:
        """Seconds to wait before the ``wait_number``-th retry (1-based) of one outage."""
        exponent = min(max(wait_number - 1, 0), 64)
        return float(min(self.max_s, self.initial_s * self.factor**exponent))


@dataclass(frozen=True)
class Outage:
    """A period in which a live source delivered no frames.

    The sink sees each outage twice: when it starts (``ended_wall`` None) and when frames flow
    again (``ended_wall`` set) or when the source gives up (``ended_wall`` None, then
    `StreamUnavailable` is raised). ``started_wall`` identifies the outage; ``uri`` is masked.
    """

    uri: str
    started_wall: float
    ended_wall: float | None
    attempts: int
    reason: str

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_wall is None else self.ended_wall - self.started_wall


class FrameSource(Protocol):
    """Something that yields frames; use as a context manager or call `close`."""

    fps: float
    resolution_wh: tuple[int, int]

    def frames(self, stride: int = 1) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


# ---------------------------------------------------------------------------------------------
# Entry point


def open_source(
    uri: str,
    *,
    reconnect: ReconnectPolicy | None = None,
    outage_sink: Callable[[Outage], None] | None = None,
    open_timeout_s: float = 10.0,
    read_timeout_s: float = 10.0,
    cancel: threading.Event | None = None,
) -> FrameSource:
    """Open a video file, ``rtsp://``/``http(s)://`` stream or USB camera (``usb:N``, ``/dev/videoN``).

    Files are checked here: a missing, corrupt or non-video file raises `InputError` now, not
    during iteration. Live sources connect here (retrying under ``reconnect``, default
    `ReconnectPolicy()`), so this call blocks until the first frame arrives; `StreamUnavailable`
    when the attempts run out. ``outage_sink`` receives every `Outage` (see there); during
    iteration it is called from the consumer's thread. ``cancel`` (live sources): setting it from
    another thread abandons connecting (this call then raises `StreamUnavailable`, "source closed")
    and, once open, stops the source like `close` (the consumer's iteration ends); files ignore it.
    """
    text = uri.strip()
    if not text:
        raise InputError("no video source given: use a file path, rtsp://…, http(s)://… or usb:N")
    if text.startswith("file://"):
        text = text[len("file://") :]
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme:
        if scheme not in _LIVE_SCHEMES:
            raise InputError(
                f"unsupported video source '{mask_credentials(text)}': "
                "use a file path, rtsp://…, http(s)://… or usb:N"
            )
        return _LiveSource(
            text,
            options=_stream_options(scheme, read_timeout_s),
            av_format=None,
            policy=reconnect or ReconnectPolicy(),
            outage_sink=outage_sink,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
            cancel=cancel,
        )
    device = _usb_device(text)
    if device is not None:
        return _LiveSource(
            device,
            display=text if text == device else f"{text} ({device})",
            options={},
            av_format="v4l2",
            policy=reconnect or ReconnectPolicy(),
            outage_sink=outage_sink,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
            cancel=cancel,
        )
    return _FileSource(text)


def mask_credentials(uri: str) -> str:
    """``rtsp://user:pw@host/x?token=t`` → ``rtsp://user:***@host/x?token=***``; other text unchanged."""
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_SECRET_QUERY_KEYS.search(k) for k, _ in pairs):
                masked = [(k, "***" if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs]
                query = urlencode(masked, safe="*", quote_via=quote)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", uri)


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _usb_device(text: str) -> str | None:
    if text.lower().startswith("usb:"):
        number = text[4:]
        if not number.isdigit():
            raise InputError(f"bad camera '{text}': use usb:N with N a number, e.g. usb:0")
        return f"/dev/video{int(number)}"
    if re.fullmatch(r"/dev/video\d+", text):
        return text
    return None


def _stream_options(scheme: str, read_timeout_s: float) -> dict[str, str]:
    timeout_us = str(round(read_timeout_s * 1_000_000))
    if scheme.startswith("rtsp"):
        return {
            "rtsp_transport": "tcp",  # no UDP packet loss, one connection through NAT/firewalls
            "timeout": timeout_us,  # socket I/O timeout (ffmpeg ≥ 5; "stimeout" before)
            "allowed_media_types": "video",
            "max_delay": "500000",
        }
    return {"rw_timeout": timeout_us, "reconnect": "0"}  # back-off is ours, not ffmpeg's


def _frame_rate(stream: av.video.stream.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and 0 < float(rate) <= 1000:
            return float(Fraction(rate))
    return None


def _describe(error: BaseException, read_timeout_s: float | None = None) -> str:
    """A short lower-case reason for logs and messages (no file names or URLs, so no credentials)."""
    if isinstance(error, av.error.ExitError):
        return f"no data within {read_timeout_s:g} s" if read_timeout_s else "timed out"
    if isinstance(error, (av.error.FFmpegError, OSError)) and error.strerror:
        text = str(error.strerror).strip().rstrip(".")
    else:
        text = type(error).__name__
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------------------------
# Files


class _ClosingSource:
    """Context-manager behaviour shared by the concrete sources: leaving the block closes them."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _FileSource(_ClosingSource):
    """A video file, decoded synchronously with frame threading; ends at EOF, never reconnects. With a
    stride, frames that will not be analysed are not decoded where the codec allows it (`_decode`)."""

    def __init__(self, path_text: str) -> None:
        self.name = path_text
        self.is_live = False
        path = Path(path_text)
        if not path.exists():
            raise InputError(f"cannot open video '{path_text}': no such file")
        if path.is_dir():
            raise InputError(f"cannot open video '{path_text}': it is a directory")
        try:
            container = av.open(str(path), mode="r")
        except PermissionError as error:
            raise InputError(f"cannot open video '{path_text}': permission denied") from error
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot decode '{path_text}': not a video ({_describe(error)})") from error
        self._container: av.container.InputContainer | None = container
        try:
            if not container.streams.video:
                raise InputError(f"cannot decode '{path_text}': not a video (no video stream)")
            kind = _not_video_kind(container.format.name)
            if kind:
                raise InputError(f"cannot decode '{path_text}': not a video ({kind})")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: ~1.4× decode speed at 1080p
            fps = _frame_rate(stream)
            if fps is None:
                raise InputError(f"cannot decode '{path_text}': the video has no frame rate")
            self.fps: float = fps
            self._stride = 1  # set by frames(); frames before then are all decoded
            self._first_pts: int | None = None
            self._decoded = self._decode(container, stream)
            try:
                first = next(self._decoded)
            except StopIteration:
                raise InputError(f"cannot decode '{path_text}': the video has no frames") from None
            except av.error.FFmpegError as error:
                raise InputError(f"cannot decode '{path_text}': {_describe(error)}") from error
        except BaseException:
            container.close()
            self._container = None
            raise
        self._first: tuple[int, av.VideoFrame] | None = first
        self.resolution_wh: tuple[int, int] = (first[1].width, first[1].height)
        self._iterated = False

    def _decode(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Every decoded frame with its index. With a stride, the packet of a frame that will not be
        analysed (its index, from its presentation time, is no multiple of the stride) is decoded with
        ``skip_frame`` NONREF: if no other frame refers to it (a B-frame, most of them in H.264 from
        cameras and encoders) the decoder skips it altogether, so it costs no decoding. The frames that
        are analysed are decoded bit for bit as without skipping. Then the index comes from the
        presentation time (a constant frame rate, as the stride already assumes); without a stride,
        or without time stamps, frames are counted as they come."""
        codec = stream.codec_context
        time_base = stream.time_base
        counted = 0
        for packet in container.demux(stream):
            stride, first_pts = self._stride, self._first_pts
            by_time = stride > 1 and first_pts is not None and time_base is not None
            if by_time and packet.pts is not None:
                wanted = self._index_at(packet.pts, first_pts, time_base) % stride == 0
                codec.skip_frame = "DEFAULT" if wanted else "NONREF"
            for frame in packet.decode():
                if self._first_pts is None:
                    self._first_pts = frame.pts
                if by_time and frame.pts is not None:
                    index = self._index_at(frame.pts, first_pts, time_base)
                else:
                    index = counted
                counted = index + 1
                yield index, frame

    def _index_at(self, pts: int, first_pts: int | None, time_base: Fraction | None) -> int:
        return round(float((pts - (first_pts or 0)) * (time_base or 0)) * self.fps)

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if self._iterated:
            raise RuntimeError("frames() can be iterated only once per source")
        self._iterated = True
        self._stride = stride
        return self._iterate(stride)

    def _iterate(self, stride: int) -> Iterator[Frame]:
        decoded = self._first
        self._first = None
        while decoded is not None:
            index, frame = decoded
            if index % stride == 0:
                wall = time.time()
                image = _to_bgr(frame, self.resolution_wh)
                yield Frame(index=index, t_s=index / self.fps, image_bgr=image, wall_time=wall)
            if self._container is None:  # closed while iterating
                return
            try:
                decoded = next(self._decoded, None)
            except av.error.FFmpegError as error:
                raise InputError(
                    f"cannot decode '{self.name}': broken data after frame {index} ({_describe(error)})"
                ) from error

    def close(self) -> None:
        self._first = None
        if self._container is not None:
            self._container.close()
            self._container = None


_TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})  # ffmpeg renders text/ANSI art as video


def _not_video_kind(format_name: str) -> str | None:
    """What a file is when ffmpeg can 'decode' it but it is no camera video, else None."""
    names = set(format_name.split(","))
    if names & _TEXT_DEMUXERS:
        return "a text file"
    if "image2" in names or any(name.endswith("_pipe") for name in names):
        return "a still image"
    return None


def _to_bgr(frame: av.VideoFrame, resolution_wh: tuple[int, int]) -> np.ndarray:
    width, height = resolution_wh
    if frame.width == width and frame.height == height:
        return frame.to_ndarray(format="bgr24")
    return frame.to_ndarray(format="bgr24", width=width, height=height)


# ---------------------------------------------------------------------------------------------
# Live streams


class _GiveUpError(Exception):
    """The reconnect policy ran out; carries the final outage."""

    def __init__(self, outage: Outage, last_reason: str) -> None:
        super().__init__(last_reason)
        self.outage = outage
        self.last_reason = last_reason


class _FatalError(Exception):
    """A connection error that retrying cannot fix (bad credentials, not a video)."""


@dataclass
class _Connection:
    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    packets: Iterator[av.Packet[av.video.stream.VideoStream]]
    first: av.VideoFrame
    first_wall: float
    opened_wall: float

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()


@dataclass(frozen=True)
class _Item:
    index: int
    t_s: float
    wall: float
    frame: av.VideoFrame


class _LiveSource(_ClosingSource):
    """A network stream or camera: reader thread → bounded buffer → consumer; reconnects on outages."""

    def __init__(
        self,
        url: str,
        *,
        display: str | None = None,
        options: dict[str, str],
        av_format: str | None,
        policy: ReconnectPolicy,
        outage_sink: Callable[[Outage], None] | None,
        open_timeout_s: float,
        read_timeout_s: float,
        cancel: threading.Event | None = None,
    ) -> None:
        self.name = display or mask_credentials(url)
        self._noun = "camera" if av_format == "v4l2" else "stream"
        self.is_live = True
        self._url = url
        self._secret = urlsplit(url).password if "://" in url else None
        self._options = options
        self._format = av_format
        self._policy = policy
        self._sink = outage_sink
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._stop = cancel if cancel is not None else threading.Event()
        self._cond = threading.Condition()
        self._items: deque[_Item | Outage | BaseException] = deque()
        self._buffered_frames = 0
        self._done = False
        self._thread: threading.Thread | None = None
        self.dropped_frames = 0
        self._last_drop_log = 0.0
        self._drops_logged = 0
        # presentation-time anchoring
        self._anchor: tuple[float, float] | None = None  # (pts seconds, t_s) of this connection
        self._conn_t: float | None = None  # t_s of the previous frame of this connection
        self._last_t: float | None = None

        self._connection: _Connection | None = self._first_connection()
        first = self._connection.first
        self.started_wall: float = self._connection.opened_wall
        self.resolution_wh: tuple[int, int] = (first.width, first.height)
        fps = _frame_rate(self._connection.stream)
        if fps is None:
            log.warning("source %s: stream has no frame rate; assuming %g fps", self.name, _DEFAULT_LIVE_FPS)
            fps = _DEFAULT_LIVE_FPS
        self.fps: float = fps
        log.info("source %s: connected, %dx%d at %g fps", self.name, *self.resolution_wh, self.fps)

    # -- connecting ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        text = text.replace(self._url, self.name)
        return text.replace(self._secret, "***") if self._secret else text

    def _connect(self) -> _Connection:
        """Open the stream and decode its first frame, or raise (`_FatalError` when retrying cannot help)."""
        open_timeout_s, read_timeout_s = self._timeouts
        opened_wall = time.time()
        try:
            container = av.open(
                self._url,
                mode="r",
                format=self._format,
                options=dict(self._options),
                timeout=(open_timeout_s, read_timeout_s),
            )
        except (
            av.error.HTTPUnauthorizedError,
            av.error.HTTPForbiddenError,
            av.error.PermissionError,
        ) as error:
            raise _FatalError("access denied (check the user name and password)") from error
        try:
            if not container.streams.video:
                raise _FatalError("not a video (no video stream)")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            packets = container.demux(stream)
            deadline = time.monotonic() + read_timeout_s
            for packet in packets:
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    decoded = []  # joined mid-GOP or a damaged packet: wait for a key frame
                for frame in decoded:
                    if isinstance(frame, av.VideoFrame):
                        return _Connection(container, stream, packets, frame, time.time(), opened_wall)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no decodable frame within {read_timeout_s:g} s")
                if self._stop.is_set():
                    raise TimeoutError("closed")
            raise EOFError("stream ended before its first frame")
        except BaseException:
            with contextlib.suppress(Exception):
                container.close()
            raise

    def _attempt(self) -> tuple[_Connection | None, str]:
        started = time.monotonic()
        try:
            return self._connect(), ""
        except (_FatalError, KeyboardInterrupt, SystemExit):
            raise
        except (TimeoutError, EOFError) as error:
            return None, str(error)
        except Exception as error:  # any ffmpeg/OS error: the stream is unreachable right now
            timeout_s = min(self._timeouts)
            if isinstance(error, av.error.InvalidDataError) and time.monotonic() - started >= 0.9 * timeout_s:
                return None, f"no answer within {timeout_s:g} s"  # ffmpeg's RTSP reports a timeout so
            return None, self._scrub(_describe(error, self._timeouts[1]))

    def _first_connection(self) -> _Connection:
        try:
            connection, reason = self._attempt()
        except _FatalError as error:
            raise InputError(f"cannot open {self._noun} '{self.name}': {error}") from None
        if connection is not None:
            return connection
        try:
            limit = self._policy.max_attempts_at_start or self._policy.max_attempts
            return self._recover(reason, time.time(), attempts=1, notify=self._notify_now, limit=limit)
        except _GiveUpError as give_up:
            raise self._unavailable(give_up) from None

    def _recover(
        self,
        reason: str,
        started_wall: float,
        attempts: int,
        notify: Callable[[Outage], None],
        limit: int | None,
    ) -> _Connection:
        """Retry with back-off until connected (the outage ends) or the policy gives up (`_GiveUpError`).

        ``attempts`` is how many connection attempts of this outage have failed already.
        """
        outage = Outage(self.name, started_wall, None, attempts, reason)
        if attempts:
            log.warning("source %s: cannot connect (%s); retrying with back-off", self.name, reason)
        else:
            log.warning("source %s: stream lost (%s); reconnecting", self.name, reason)
        notify(outage)
        last_reason, waits = reason, 0
        while True:
            if limit is not None and attempts >= limit:
                outage = replace(outage, attempts=attempts)
                log.error(
                    "source %s: giving up after %d connection attempts (%s)", self.name, attempts, last_reason
                )
                notify(outage)
                raise _GiveUpError(outage, last_reason)
            waits += 1
            delay = self._policy.delay_s(waits)
            log.info("source %s: attempt %d in %.1f s", self.name, attempts + 1, delay)
            if self._stop.wait(delay):
                raise _GiveUpError(replace(outage, attempts=attempts), "source closed")
            attempts += 1
            try:
                connection, last_reason = self._attempt()
            except _FatalError as error:
                connection, last_reason = None, str(error)
            if connection is not None:
                ended = replace(outage, ended_wall=connection.first_wall, attempts=attempts)
                log.warning(
                    "source %s: frames flow again after %.1f s (connection attempts: %d)",
                    self.name,
                    ended.duration_s or 0.0,
                    attempts,
                )
                notify(ended)
                return connection
            log.info("source %s: attempt %d failed (%s)", self.name, attempts, last_reason)

    def _unavailable(self, give_up: _GiveUpError) -> StreamUnavailable:
        return StreamUnavailable(
            f"cannot reach {self._noun} '{self.name}': {give_up.last_reason} "
            f"(gave up after {give_up.outage.attempts} attempts)"
        )

    def _notify_now(self, outage: Outage) -> None:
        if self._sink is not None:
            self._sink(outage)

    def _notify_later(self, outage: Outage) -> None:
        with self._cond:
            events = sum(1 for item in self._items if isinstance(item, Outage))
            if events >= _MAX_PENDING_EVENTS:
                for item in self._items:
                    if isinstance(item, Outage):
                        self._items.remove(item)
                        break
            self._items.append(outage)
            self._cond.notify_all()

    # -- reading --------------------------------------------------------------------------------

    def _stamp(self, frame: av.VideoFrame, wall: float, opened_wall: float) -> float:
        """Presentation time in seconds since the source opened, anchored to the wall clock.

        A connection's first frame is placed at the wall time its connection began (frames
        buffered while the stream was probed were captured then, not when they are decoded);
        later frames are spaced by their pts (1/fps where a frame has none). A pts that runs
        backwards continues at +1/fps; drifting more than a few seconds from the wall clock
        re-anchors to it. The result is strictly increasing.
        """
        since = wall - self.started_wall
        pts = frame.time
        prev = self._conn_t
        if prev is None:
            t = opened_wall - self.started_wall
            self._anchor = None
        elif pts is None or self._anchor is None:
            t = prev + 1.0 / self.fps
        else:
            t = self._anchor[1] + (pts - self._anchor[0])
            if t <= prev:
                log.debug("source %s: presentation time ran backwards; continuing", self.name)
                t = prev + 1.0 / self.fps
                self._anchor = None
        if prev is not None and not since - _MAX_LAG_S <= t <= since + _MAX_LEAD_S:
            log.debug("source %s: presentation time drifted; re-anchoring to the wall clock", self.name)
            t = since
            self._anchor = None
        if self._last_t is not None and t <= self._last_t:
            t = self._last_t + 1e-6
        if pts is not None and self._anchor is None:
            self._anchor = (pts, t)
        self._last_t = self._conn_t = t
        return t

    def _push(self, item: _Item) -> None:
        with self._cond:
            if self._buffered_frames >= _LIVE_BUFFER_FRAMES:
                for old in self._items:
                    if isinstance(old, _Item):
                        self._items.remove(old)
                        break
                self._buffered_frames -= 1
                self.dropped_frames += 1
                now = time.monotonic()
                unlogged = self.dropped_frames - self._drops_logged
                if unlogged >= _DROPS_WORTH_LOGGING and now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:
                    self._last_drop_log, self._drops_logged = now, self.dropped_frames
                    log.warning(
                        "source %s: consumer too slow, %d frames dropped so far",
                        self.name,
                        self.dropped_frames,
                    )
            self._items.append(item)
            self._buffered_frames += 1
            self._cond.notify_all()

    def _read(self, stride: int) -> None:
        """Reader thread: decode every frame, queue every ``stride``-th, reconnect on outages."""
        index = 0
        try:
            connection = self._connection
            while connection is not None and not self._stop.is_set():
                self._anchor = self._conn_t = None
                pending: Iterator[av.VideoFrame] = iter([connection.first])
                reason = "stream ended"
                wall = connection.first_wall
                while not self._stop.is_set():
                    frame = next(pending, None)
                    if frame is None:
                        try:
                            packet = next(connection.packets)
                        except StopIteration:
                            reason = "stream ended"
                            break
                        except Exception as error:
                            reason = self._scrub(_describe(error, self._timeouts[1]))
                            break
                        try:
                            pending = iter([f for f in packet.decode() if isinstance(f, av.VideoFrame)])
                        except av.error.FFmpegError:
                            continue  # one damaged packet: the decoder recovers at the next key frame
                        wall = time.time()
                        continue
                    if index % stride == 0:
                        self._push(
                            _Item(index, self._stamp(frame, wall, connection.opened_wall), wall, frame)
                        )
                    else:
                        self._stamp(frame, wall, connection.opened_wall)
                    index += 1
                connection.close()
                self._connection = connection = None
                if self._stop.is_set():
                    break
                connection = self._recover(
                    reason,
                    time.time(),
                    attempts=0,
                    notify=self._notify_later,
                    limit=self._policy.max_attempts,
                )
                self._connection = connection
        except _GiveUpError as give_up:
            if not self._stop.is_set():
                self._finish(self._unavailable(give_up))
        except BaseException as error:
            self._finish(error)
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        with self._cond:
            if error is not None:
                self._items.append(error)
            self._done = True
            self._cond.notify_all()

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if self._thread is not None:
            raise RuntimeError("frames() can be iterated only once per source")
        if self._connection is None:
            raise RuntimeError(f"source {self.name} is closed")
        self._thread = threading.Thread(target=self._read, args=(stride,), name="keliu-source", daemon=True)
        self._thread.start()
        return self._iterate()

    def _iterate(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                while not self._items and not self._done:
                    self._cond.wait(timeout=1.0)
                if not self._items:
                    return
                item = self._items.popleft()
                if isinstance(item, _Item):
                    self._buffered_frames -= 1
            if isinstance(item, Outage):
                self._notify_now(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                image = _to_bgr(item.frame, self.resolution_wh)
                yield Frame(index=item.index, t_s=item.t_s, image_bgr=image, wall_time=item.wall)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._timeouts[1] + 2.0)
            if thread.is_alive():
                log.warning("source %s: reader did not stop within the read timeout", self.name)
        elif self._connection is not None:
            self._connection.close()
            self._connection = None
        with self._cond:
            self._items.clear()
            self._buffered_frames = 0
            self._done = True
            self._cond.notify_all()
