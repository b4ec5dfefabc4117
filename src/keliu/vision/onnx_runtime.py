"""onnxruntime with its telemetry switched off: the only place keliu imports it at run time.

Official onnxruntime wheels (1.29 and later on Linux) start a Microsoft "1DS" telemetry client when the
library is *imported*: it writes a device id and an event queue (the Python path, OS, CPU, model
names and hashes) under ``$XDG_CACHE_HOME`` or ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` and
tries to upload them to ``mobile.events.data.microsoft.com``. ``onnxruntime.disable_telemetry_events()``
alone does not stop that (measured with onnxruntime 1.32: the files appear on import, before any
session exists); only ``ORT_DISABLE_TELEMETRY=1`` in the environment *before the first import* does,
and the library latches that choice for the life of the process.

So every model-loading code path calls :func:`onnxruntime_module` instead of ``import onnxruntime``
(tests/unit/test_onnx_telemetry.py checks that no other module imports it), and keliu forces the
variable to ``1`` whatever the user's environment says: a privacy-first product has no opt-in.
tests/slow/test_no_telemetry.py runs every model-loading command and checks that no file appears.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["TELEMETRY_ENV", "onnxruntime_module"]

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def onnxruntime_module() -> ModuleType:
    """The ``onnxruntime`` module, imported with its telemetry disabled (cheap after the first call)."""
    os.environ[TELEMETRY_ENV] = "1"
    import onnxruntime

    onnxruntime.disable_telemetry_events()  # also stops per-session events if it was imported earlier
    module: ModuleType = onnxruntime
    return module
