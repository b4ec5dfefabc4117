"""Fast tests of keliu.vision.sources: video files, URI handling, back-off and credential masking.

Live streams against real servers are in tests/integration/test_stream_reconnect.py.
"""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest

from keliu.errors import ConfigError, InputError, StreamUnavailable
from keliu.vision import sources
from keliu.vision.sources import Frame, ReconnectPolicy, mask_credentials, open_source

VIDEO_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "video"
CAMPUS = VIDEO_DIR / "TUD-Campus.mp4"  # 71 frames, 25 fps, 640×480


@pytest.fixture(scope="module")
def campus() -> Path:
    assert CAMPUS.is_file(), f"test video {CAMPUS} is missing (provision /work/shared/data/video)"
    return CAMPUS


# --- files --------------------------------------------------------------------------------------


def test_file_yields_every_frame_with_exact_times(campus: Path) -> None:
    with open_source(str(campus)) as source:
        assert source.fps == 25.0
        assert source.resolution_wh == (640, 480)
        frames = list(source.frames())
    assert [f.index for f in frames] == list(range(71))
    assert all(f.t_s == f.index / 25.0 for f in frames)
    first = frames[0]
    assert isinstance(first, Frame)
    assert first.image_bgr.shape == (480, 640, 3)
    assert first.image_bgr.dtype == np.uint8
    assert first.image_bgr.flags["C_CONTIGUOUS"]
    assert all(a.wall_time <= b.wall_time for a, b in itertools.pairwise(frames))
    assert not np.array_equal(frames[0].image_bgr, frames[-1].image_bgr)


def test_stride_keeps_true_indices_and_converts_only_yielded_frames(
    campus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversions: list[int] = []
    real = sources._to_bgr

    def counting(frame, resolution_wh):  # type: ignore[no-untyped-def]
        conversions.append(1)
        return real(frame, resolution_wh)

    monkeypatch.setattr(sources, "_to_bgr", counting)
    with open_source(str(campus)) as source:
        frames = list(source.frames(stride=3))
    assert [f.index for f in frames] == list(range(0, 71, 3))
    assert [f.t_s for f in frames] == [i / 25.0 for i in range(0, 71, 3)]
    assert len(conversions) == len(frames) == 24


def test_stride_frames_equal_the_unstrided_ones(campus: Path) -> None:
    with open_source(str(campus)) as source:
        every = {f.index: f.image_bgr for f in source.frames()}
    with open_source(str(campus)) as source:
        strided = list(source.frames(stride=10))
    for frame in strided:
        assert np.array_equal(frame.image_bgr, every[frame.index])


def test_stride_leaves_frames_nobody_refers_to_undecoded(
    campus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TUD-Campus is H.264 with 51 B-frames of 71: at stride 3 the B-frames between analysed frames
    are skipped by the decoder, and the analysed frames are still every third one, exact."""
    decoded: list[int] = []
    real = sources._FileSource._decode

    def recording(self, container, stream):  # type: ignore[no-untyped-def]
        for index, frame in real(self, container, stream):
            decoded.append(index)
            yield index, frame

    monkeypatch.setattr(sources._FileSource, "_decode", recording)
    with open_source(str(campus)) as source:
        assert len(list(source.frames())) == 71
    assert decoded == list(range(71))
    decoded.clear()
    with open_source(str(campus)) as source:
        frames = list(source.frames(stride=3))
    assert [f.index for f in frames] == list(range(0, 71, 3))
    assert set(range(0, 71, 3)) <= set(decoded)
    assert decoded == sorted(decoded)
    assert len(decoded) <= 60  # here 50: B-frames between analysed ones were never decoded


def test_stride_must_be_positive_and_frames_iterates_once(campus: Path) -> None:
    with open_source(str(campus)) as source:
        with pytest.raises(ValueError, match="stride"):
            source.frames(stride=0)
        iterator = source.frames()
        next(iterator)
        with pytest.raises(RuntimeError, match="once"):
            source.frames()


def test_close_while_iterating_ends_the_iteration(campus: Path) -> None:
    source = open_source(str(campus))
    iterator = source.frames()
    assert next(iterator).index == 0
    source.close()
    assert list(iterator) == []
    source.close()  # idempotent


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    with pytest.raises(InputError, match=r"^cannot open video '.*x\.mp4': no such file$"):
        open_source(str(path))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        open_source(str(tmp_path))


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"^cannot decode '.*corrupt\.mp4': not a video"):
        open_source(str(path))


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("entrance camera, installed 2024\n" * 20)
    with pytest.raises(InputError, match=r"^cannot decode .*notes\.txt.: not a video \(a text file\)$"):
        open_source(str(path))


def test_truncated_mp4_fails_at_open(campus: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    path.write_bytes(campus.read_bytes()[:100_000])  # the index (moov) is at the end: lost
    with pytest.raises(InputError, match="cannot decode"):
        open_source(str(path))


def test_audio_only_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "beep.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.zeros(8000, dtype=np.int16).tobytes())
    with pytest.raises(InputError, match=r"not a video \(no video stream\)"):
        open_source(str(path))


# --- URIs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "no video source"),
        ("   ", "no video source"),
        ("ftp://cam/x", "unsupported video source 'ftp://cam/x'"),
        ("usb:front", "bad camera 'usb:front'"),
    ],
)
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_source(uri)


def test_unsupported_scheme_message_masks_credentials() -> None:
    with pytest.raises(InputError) as caught:
        open_source("rtmp://admin:hunter2@cam/live")
    assert "hunter2" not in str(caught.value)
    assert "admin:***@cam" in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("rtsp://user:pw@10.0.0.5:554/stream1", "rtsp://user:***@10.0.0.5:554/stream1"),
        ("rtsp://user:p%40ss@host/x", "rtsp://user:***@host/x"),
        ("rtsp://user@host/x", "rtsp://user@host/x"),
        ("rtsp://host/x", "rtsp://host/x"),
        ("http://cam/video.cgi?user=admin&password=s3cret", "http://cam/video.cgi?user=admin&password=***"),
        ("https://cam/live?token=abc&channel=1", "https://cam/live?token=***&channel=1"),
        ("/videos/shop.mp4", "/videos/shop.mp4"),
        ("usb:0", "usb:0"),
    ],
)
def test_mask_credentials(uri: str, masked: str) -> None:
    assert mask_credentials(uri) == masked


# --- reconnect policy ---------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = ReconnectPolicy()
    assert [policy.delay_s(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert policy.max_attempts is None
    assert ReconnectPolicy(initial_s=1, factor=3, max_s=10).delay_s(3) == 9
    assert ReconnectPolicy().delay_s(10_000) == 30


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0}, {"max_s": 0.1}, {"factor": 0.5}, {"max_attempts": 0}],
)
def test_bad_policy(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="reconnect"):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_still_image_is_not_a_video(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.zeros((48, 64, 3), np.uint8))  # synthetic, not a camera frame
    with pytest.raises(InputError, match=r"not a video \(a still image\)"):
        open_source(str(path))


def test_missing_usb_camera_gives_up_with_a_clear_message() -> None:
    outages: list[sources.Outage] = []
    with pytest.raises(StreamUnavailable) as caught:
        open_source(
            "usb:63", reconnect=ReconnectPolicy(initial_s=0.05, max_attempts=2), outage_sink=outages.append
        )
    assert str(caught.value) == (
        "cannot reach camera 'usb:63 (/dev/video63)': no such file or directory (gave up after 2 attempts)"
    )
    assert [o.attempts for o in outages] == [1, 2]
