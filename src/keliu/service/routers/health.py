"""Liveness, readiness and Prometheus metrics (no authentication: they reveal no site data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from keliu.errors import KeliuError
from keliu.service.auth import get_store
from keliu.service.errors import error_body

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Ready to serve: the store answers",
    responses={503: {"description": "not ready"}},
)
def readyz(request: Request, response: Response) -> Health | Response:
    try:
        get_store(request).organisation_name()
    except KeliuError as exc:
        import json

        return Response(
            json.dumps(error_body("not_ready", str(exc))), status_code=503, media_type="application/json"
        )
    return Health(status="ready")


@router.get(
    "/metrics",
    summary="Prometheus metrics (frames, fps, detections, crossings, queue depths per camera)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    registry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
