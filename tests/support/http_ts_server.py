"""A tiny live HTTP video server for integration tests: MPEG-TS over HTTP, made by PyAV itself.

Run with the project's python (it needs only PyAV and numpy):

    .venv/bin/python tests/support/http_ts_server.py --port 8080 --path /cam

Prints ``READY http://127.0.0.1:PORT/PATH`` once it listens, then sends each client a synthetic
moving pattern (MPEG-2 in MPEG-TS) in real time until the client goes away or the server is
killed. Must not read or write any file and must not listen beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import socketserver
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import av
import numpy as np


def stream_to(sink: object, width: int, height: int, fps: int) -> None:
    """Encode a moving synthetic pattern as MPEG-TS into ``sink`` in real time, until it breaks."""
    with av.open(sink, mode="w", format="mpegts") as output:
        stream = output.add_stream("mpeg2video", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = fps
        ys, xs = np.mgrid[0:height, 0:width]
        started = time.monotonic()
        for index in range(10**9):
            image = ((xs + ys + index * 4) % 256).astype(np.uint8)
            rgb = np.ascontiguousarray(np.dstack([image, image[::-1], image[:, ::-1]]))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                output.mux(packet)
            delay = started + (index + 1) / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--size", default="320x240", help="WxH")
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if self.path != args.path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            with contextlib.suppress(OSError, av.error.FFmpegError):  # the client went away
                stream_to(self.wfile, width, height, args.fps)

        def log_message(self, format: str, *values: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"READY http://127.0.0.1:{args.port}{args.path}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
