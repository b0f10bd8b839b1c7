"""Error answers of the STAC API: 4xx with one line (``code`` and ``description``, as STAC APIs answer)
for anything a client sends; no library exception text, no server paths, echoed values shortened."""

from __future__ import annotations

import json
from http import HTTPStatus
import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from stac_fastapi.types.errors import NotFoundError
from starlette.exceptions import HTTPException

from catalog.api.index import SearchError
from catalog.reader import CatalogUnavailable

log = logging.getLogger(__name__)

#: Longest message sent; longest quoted value (an echoed id) inside it.
MAX_MESSAGE_CHARS = 300
MAX_ECHO_CHARS = 40

_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.@+-]+/)+[\w.@+-]*")
_QUOTED = re.compile(r"'([^']{%d})[^']+'" % MAX_ECHO_CHARS)
#: Exceptions a malformed request can raise inside stac-fastapi or its models, and what to say.
MALFORMED = (AttributeError, TypeError, ValueError, KeyError, ArithmeticError, RecursionError)


def one_line(message: object) -> str:
    """``message`` as one short line without absolute paths; long quoted values are cut."""
    text = " ".join(str(message).split())
    text = _PATH.sub("<path>", text)
    text = _QUOTED.sub(lambda m: f"'{m.group(1)}...'", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def validation_message(exc: RequestValidationError) -> str:
    """The first validation error as ``invalid <parameter>: <reason>`` (never the value sent)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    return f"invalid {where or 'request'}: {first.get('msg', 'bad value')}"


def status_code_name(status: int) -> str:
    """The STAC error ``code`` of an HTTP status: its reason phrase in CamelCase (404 NotFound, 405
    MethodNotAllowed, 413 ContentTooLarge), ServerError for 5xx."""
    if status >= 500:
        return "ServerError"
    try:
        return "".join(word.capitalize() if word.islower() else word for word in
                       HTTPStatus(status).phrase.replace("-", " ").split())
    except ValueError:
        return "BadRequest"


def _answer(status: int, code: str, message: object) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": code, "description": one_line(message)})


async def json_object_body(request: Request) -> None:
    """App dependency: a POST body must be a JSON object sent as JSON (checked before stac-fastapi's models)."""
    if request.method != "POST":
        return
    if "json" not in request.headers.get("content-type", ""):
        raise HTTPException(415, "send the body as application/json")
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise HTTPException(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")


def install_stac_error_handlers(app: FastAPI) -> None:
    """One-line 4xx answers on the STAC API app (replacing stac-fastapi's, which echo input)."""

    @app.exception_handler(SearchError)
    async def search_error(request: Request, exc: SearchError) -> JSONResponse:
        return _answer(400, "BadRequest", exc)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _answer(404, status_code_name(404), exc)

    @app.exception_handler(CatalogUnavailable)
    async def unavailable(request: Request, exc: CatalogUnavailable) -> JSONResponse:
        return _answer(503, status_code_name(503), exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _answer(400, "BadRequest", validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _answer(exc.status_code, status_code_name(exc.status_code), exc.detail)

    async def malformed(request: Request, exc: Exception) -> JSONResponse:
        log.info("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return _answer(400, "BadRequest", "malformed request: check the parameters' types and values")

    for cls in MALFORMED:
        app.add_exception_handler(cls, malformed)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _answer(500, "ServerError", "internal error")
