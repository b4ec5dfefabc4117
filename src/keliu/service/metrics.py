"""Prometheus metrics of the running service (``GET /metrics``): per camera frames, fps, detections,
crossings, sightings, outages, restarts and whether it is online; per site the resolution queue; the
live hub's subscribers and drops; the webhook outbox. Read at scrape time from the runtime's own
counters (nothing is counted twice). Carries no site data beyond ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from keliu.service.runtime import ServiceRuntime

__all__ = ["RuntimeCollector"]


class RuntimeCollector(Collector):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        labels = ["site", "camera"]
        counters = {
            "frames": CounterMetricFamily("keliu_camera_frames", "frames analysed", labels=labels),
            "detections": CounterMetricFamily("keliu_camera_detections", "people detected", labels=labels),
            "crossings": CounterMetricFamily(
                "keliu_camera_crossings", "line crossings counted", labels=labels
            ),
            "sightings": CounterMetricFamily("keliu_camera_sightings", "sightings emitted", labels=labels),
            "outages": CounterMetricFamily("keliu_camera_outages", "source outages", labels=labels),
            "restarts": CounterMetricFamily("keliu_camera_restarts", "restarts after errors", labels=labels),
        }
        fps = GaugeMetricFamily("keliu_camera_fps", "frames analysed per second", labels=labels)
        online = GaugeMetricFamily("keliu_camera_online", "1 while the camera delivers frames", labels=labels)
        for info in self.runtime.supervisor.cameras():
            key = [info.site_id, info.camera_id]
            for name, family in counters.items():
                family.add_metric(key, float(getattr(info, name)))
            fps.add_metric(key, info.fps)
            online.add_metric(key, 1.0 if info.online else 0.0)
        yield from counters.values()
        yield fps
        yield online
        queue = GaugeMetricFamily(
            "keliu_resolution_queue", "sightings waiting to be resolved", labels=["site"]
        )
        for site_id, worker in self.runtime.workers.items():
            queue.add_metric([site_id], float(worker.queue_depth))
        yield queue
        hub = self.runtime.hub.stats()
        yield GaugeMetricFamily("keliu_live_subscribers", "live stream clients", value=hub["subscribers"])
        yield CounterMetricFamily("keliu_live_published", "live messages published", value=hub["published"])
        yield CounterMetricFamily(
            "keliu_live_dropped", "live messages dropped for slow clients", value=hub["dropped"]
        )
        for name, value in self.runtime.webhooks.stats().items():
            if isinstance(value, int | float):
                yield GaugeMetricFamily(
                    f"keliu_webhooks_{name}", f"webhook outbox: {name}", value=float(value)
                )
