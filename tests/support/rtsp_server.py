"""A tiny RTSP server for integration tests: serves an H.264 test pattern at rtsp://127.0.0.1:PORT/PATH.

Run with the SYSTEM python (it needs PyGObject and GStreamer's RTSP server, which are Debian
packages, not pip packages):

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --path /cam

With ``--video FILE.mp4`` (H.264 in MP4) it serves that recording instead, in real time, from its
start for every new server (the file is read, never re-encoded or written).

Prints ``READY rtsp://127.0.0.1:PORT/PATH`` on stdout once it listens. Exits with status 3 and a
line naming the apt packages to install when something is missing. Must not write any file (the
pattern is generated; ``--video`` is only read) and must not listen on anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import signal
import sys

APT_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
)
MISSING = 3


def _missing(what: str) -> None:
    print(f"rtsp_server: {what} missing; install: apt-get install -y {APT_PACKAGES}", file=sys.stderr)
    sys.exit(MISSING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--size", default="320x240", help="WxH")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--video", help="serve this H.264 MP4 file (real time) instead of a pattern")
    args = parser.parse_args()

    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as error:
        _missing(f"PyGObject or the GStreamer RTSP server typelib ({error})")
        return

    Gst.init(None)
    encoder = None
    for name, settings in (
        ("x264enc", "tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=800"),
        ("openh264enc", "gop-size={fps} bitrate=800000"),
    ):
        if Gst.ElementFactory.find(name) is not None:
            encoder = f"{name} {settings.format(fps=args.fps)}"
            break
    if encoder is None:
        _missing("an H.264 encoder (GStreamer element x264enc or openh264enc)")
    for element in ("videotestsrc", "videoconvert", "rtph264pay"):
        if Gst.ElementFactory.find(element) is None:
            _missing(f"GStreamer element {element}")

    width, height = (int(v) for v in args.size.lower().split("x"))
    launch = (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
        f"framerate={args.fps}/1 ! videoconvert ! video/x-raw,format=I420 ! {encoder} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    if args.video:
        for element in ("filesrc", "qtdemux", "h264parse"):
            if Gst.ElementFactory.find(element) is None:
                _missing(f"GStreamer element {element}")
        location = args.video.replace("\\", "\\\\").replace('"', '\\"')
        launch = (
            f'( filesrc location="{location}" ! qtdemux ! h264parse '
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        sys.exit(1)

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
