"""Error answers of the server: 4xx with one line of JSON ``detail`` for anything a client can send.

Messages are devscore's own (``DevscoreError``) or written here per library exception class; raw
exception text of GDAL, rio-tiler or numpy is never sent (it names server paths and internals). Every
message is made one line, stripped of absolute paths and shortened, echoed ids included
(``catalog.api.errors.one_line``, shared with the STAC API).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from rasterio.errors import RasterioError
from rio_tiler import errors as rio_errors
from starlette.exceptions import HTTPException as StarletteHTTPException
from titiler.core.errors import BadRequestError, TileNotFoundError

from catalog.api.errors import one_line, validation_message
from catalog.reader import CatalogUnavailable, NotFoundError
from publisher.errors import DevscoreError

log = logging.getLogger(__name__)

#: Our own words for library errors a request can cause, with their status.
LIBRARY_ERRORS: dict[type[Exception], tuple[int, str]] = {
    rio_errors.TileOutsideBounds: (404, "the tile is outside the layer's bounds"),
    rio_errors.PointOutsideBounds: (404, "the point is outside the layer's bounds"),
    rio_errors.EmptyMosaicError: (204, ""),  # an empty mosaic tile: 204 as TiTiler answers
    rio_errors.NoAssetFoundError: (204, ""),
    rio_errors.InvalidColorMapName: (400, "unknown colormap_name"),
    rio_errors.InvalidColorFormat: (400, "colormap must map values to RGB(A) colours"),
    rio_errors.InvalidExpression: (400, "invalid expression: use band names b1, numbers and operators"),
    rio_errors.InvalidBandName: (400, "unknown band name in the expression (the score layers have b1 only)"),
    rio_errors.MissingBands: (400, "no band selected"),
    rio_errors.InvalidBufferSize: (400, "buffer must be a multiple of 0.5"),
    rio_errors.InvalidBounds: (400, "invalid bounds"),
    rio_errors.InvalidFormat: (400, "unsupported image format for this data"),
    rio_errors.MaxArraySizeError: (400, "the request would read too many pixels"),
    rio_errors.InvalidPointDataError: (400, "invalid point data"),
    rio_errors.InvalidGeographicBounds: (400, "invalid geographic bounds"),
    rio_errors.RioTilerError: (400, "the request cannot be rendered"),
    BadRequestError: (400, "bad request"),
    TileNotFoundError: (404, "tile not found"),
    RasterioError: (400, "the data cannot be read as requested"),
    IndexError: (400, "a parameter is out of range (bidx names band 1 only)"),
    KeyError: (400, "a parameter names something that does not exist"),
    TypeError: (400, "a parameter has the wrong type"),
    ValueError: (400, "a parameter has an invalid value"),
    ArithmeticError: (400, "a parameter leads to an arithmetic error (infinite or too large)"),
    NotImplementedError: (400, "not supported by the catalog's layers"),
    RecursionError: (400, "a parameter is nested too deeply"),
    MemoryError: (400, "the request needs more memory than the server allows"),
}


def error_response(status: int, message: object) -> Response:
    """The one-line JSON error answer (204: empty)."""
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(status_code=status, content={"detail": one_line(message)})


def _library_error(request: Request, exc: Exception) -> JSONResponse:
    for cls in type(exc).__mro__:
        if cls in LIBRARY_ERRORS:
            status, message = LIBRARY_ERRORS[cls]
            break
    else:
        status, message = 500, "internal error"
    log.info("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(status, message)


def install_error_handlers(app: FastAPI) -> None:
    """Bad input answers 4xx with one line; nothing a client sends produces a traceback or a path."""

    @app.exception_handler(DevscoreError)
    async def bad_request(request: Request, exc: DevscoreError) -> JSONResponse:
        status = 503 if isinstance(exc, CatalogUnavailable) else 404 if isinstance(exc, NotFoundError) else 400
        return error_response(status, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, exc.detail)

    for cls in LIBRARY_ERRORS:
        if not issubclass(cls, DevscoreError):
            app.add_exception_handler(cls, _library_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error")
