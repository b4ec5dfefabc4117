"""The registry of person detectors: name → class, and ``build_detector``.

Adding a detector means adding one entry here. Must not read configuration files or
provision models; callers pass ready paths and options.
"""

from __future__ import annotations

import inspect
from typing import Any

from keliu.errors import ConfigError
from keliu.vision.detectors.base import Detector
from keliu.vision.detectors.nanodet import NanoDetDetector
from keliu.vision.detectors.yolo import YoloOnnxDetector

__all__ = ["DETECTORS", "Detector", "NanoDetDetector", "YoloOnnxDetector", "build_detector"]

DETECTORS: dict[str, type[NanoDetDetector] | type[YoloOnnxDetector]] = {
    "nanodet": NanoDetDetector,
    "yolo": YoloOnnxDetector,
}


def build_detector(name: str, **options: Any) -> Detector:
    """Instantiate the detector registered as ``name`` with keyword ``options``."""
    cls = DETECTORS.get(name)
    if cls is None:
        raise ConfigError(f"unknown detector {name!r}; known detectors: {', '.join(sorted(DETECTORS))}")
    parameters = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(options) - set(parameters) - {"self"})
    if unknown:
        raise ConfigError(f"detector {name!r}: unknown option(s) {', '.join(unknown)}")
    missing = sorted(
        p.name
        for p in parameters.values()
        if p.name != "self"
        and p.default is inspect.Parameter.empty
        and p.name not in options
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    if missing:
        raise ConfigError(f"detector {name!r}: missing option(s) {', '.join(missing)}")
    detector: Detector = cls(**options)
    return detector
