"""One JSON error envelope for every failure of the API, built from keliu's error hierarchy.

    {"error": {"code": "not_found", "message": "unknown site 'x'", "details": [...]}}

``code`` is stable (``KeliuError.code``); ``message`` is one user-facing sentence. A request the API
cannot parse is a 422 with the offending fields in ``details``; an unexpected exception is logged
and answered with a 500 envelope that reveals nothing of the server (tests assert none happens).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from keliu.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InputError,
    KeliuError,
    ModelError,
    NotFound,
    StreamUnavailable,
    TooManyAttempts,
    Unauthenticated,
)
from keliu.store.errors import StoreError, StoreUnavailable

__all__ = ["ERROR_RESPONSES", "error_body", "install_error_handlers", "status_of"]

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[KeliuError], int], ...] = (
    (TooManyAttempts, 429),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (StreamUnavailable, 503),
    (StoreUnavailable, 503),
    (ConfigError, 400),
    (InputError, 400),
    (ModelError, 503),
    (StoreError, 500),
    (KeliuError, 400),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def status_of(error: KeliuError) -> int:
    return next(status for cls, status in _STATUS if isinstance(error, cls))


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


# for the OpenAPI document: every operation may answer these with the envelope
_ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"schema": _ENVELOPE_SCHEMA}}}
    for status, text in (
        (400, "Bad input"),
        (401, "Not signed in"),
        (403, "Not allowed"),
        (404, "Not found (or not visible to this user)"),
        (405, "Method not allowed"),
        (409, "Conflict"),
        (422, "Request does not match the schema"),
        (429, "Too many attempts"),
        (503, "Temporarily unavailable"),
    )
}


def _allowed_methods(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KeliuError)
    async def keliu_error(_request: Request, exc: KeliuError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("request failed: %s", exc)
        message = str(exc).splitlines()[0] if str(exc) else exc.code
        return JSONResponse(error_body(exc.code, message), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"field": "", "problem": "invalid request"}
        message = f"{first['field'] or 'request'}: {first['problem']}"
        return JSONResponse(error_body("invalid_request", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body("internal", "internal error; see the server log"), status_code=500)
