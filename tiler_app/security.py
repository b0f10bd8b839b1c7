"""What confines the server to its catalog: a strict CRS parser that never lets GDAL resolve a URL or a
file, and the GDAL configuration that forbids network access, sidecar listing and VRTs.

rasterio's ``CRS.from_user_input`` (what TiTiler's ``crs``/``coord_crs``/``dst_crs`` parameters call)
fetches ``http://`` and ``/vsicurl/`` URLs and reads local files. Here a CRS parameter is parsed by a
regular expression into an EPSG code (or CRS84) first, and only that code reaches PROJ's local
database; anything else is refused with 400. The strict dependencies replace TiTiler's own CRS
dependencies in every route while the factories are built (:func:`built_with`), and run in the
threadpool, never on the event loop.
"""


import contextlib
import re
import sys
from typing import Annotated, Any, Callable, Iterator, Optional

import pyproj
from fastapi import Query
from rasterio.crs import CRS
from rasterio.errors import CRSError
from titiler.core.dependencies import CoordCRSParams, CRSParams, DstCRSParams

from publisher.errors import DevscoreError
from tiler_app.limits import GDAL_CACHE_MB, MALLOC_ARENAS

#: GDAL configuration of the server process and of every read (TiTiler's ``environment_dependency``):
#: no HTTP at all (every libcurl request goes to a closed local port, /vsicurl/ allows no file name),
#: no directory listing beside opened files, no Python in VRTs, no retries. ``GDAL_SKIP=VRT`` (TiTiler's
#: SECURITY.md) is not set: rasterio's ``calculate_default_transform``, which rio-tiler calls for every
#: reprojected bbox, preview or feature read, builds an in-memory VRT and fails without the driver;
#: the server opens only the catalog's own COGs, so no VRT from outside reaches GDAL.
GDAL_LOCKDOWN = {
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/devscore-allows-no-remote-file",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "CPL_ALLOW_VSISTDIN": "NO",
}



def process_environment() -> dict[str, str]:
    """Environment of a server process: GDAL_LOCKDOWN, GDAL's block cache bounded to GDAL_CACHE_MB (its
    default, 5 % of RAM per process, is most of a worker's memory) and glibc's malloc arenas bounded to
    MALLOC_ARENAS (one per threadpool thread otherwise; read when a process starts, so it holds for the
    worker processes `devscore serve` starts)."""
    return {**GDAL_LOCKDOWN, "GDAL_CACHEMAX": str(GDAL_CACHE_MB), "MALLOC_ARENA_MAX": str(MALLOC_ARENAS)}


_EPSG = [
    re.compile(r"(?:EPSG:)?(\d{1,6})", re.IGNORECASE),
    re.compile(r"urn:ogc:def:crs:EPSG:[\d.]*:(\d{1,6})", re.IGNORECASE),
    re.compile(r"https?://www\.opengis\.net/def/crs/EPSG/[\d.]+/(\d{1,6})", re.IGNORECASE),
]
_CRS84 = re.compile(r"OGC:CRS84|urn:ogc:def:crs:OGC:1\.3:CRS84|https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84",
                    re.IGNORECASE)
ACCEPTED_FORMS = "EPSG:XXXX, a bare EPSG code, urn:ogc:def:crs:EPSG::XXXX, http://www.opengis.net/def/crs/EPSG/0/XXXX or CRS84"


def usable_epsg(code: int) -> None:
    """Refuse (DevscoreError, 400) an EPSG code PROJ's database does not hold, or a CRS a map cannot
    use: only 2D geographic and projected CRSs are; engineering (EPSG:5800, which GDAL accepts but PROJ
    cannot transform), vertical, compound, geocentric and 3D ones are not."""
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        raise DevscoreError(f"unknown EPSG code {code} (not in PROJ's database, or an engineering CRS)") from None
    if crs.is_compound or crs.is_geocentric or crs.is_vertical or len(crs.axis_info) != 2 or not (
            crs.is_geographic or crs.is_projected):
        raise DevscoreError(f"EPSG:{code} is a {crs.type_name}: give a 2D geographic or projected CRS")


def parse_crs(value: str) -> CRS:
    """The CRS an EPSG code, EPSG:XXXX, OGC URN or OGC URI names (PROJ's local database only, 2D
    geographic or projected); anything else, URLs and file paths included, raises DevscoreError (400)
    without reaching GDAL."""
    text = value.strip()
    if _CRS84.fullmatch(text):
        return CRS.from_user_input("OGC:CRS84")
    for pattern in _EPSG:
        match = pattern.fullmatch(text)
        if match:
            code = int(match.group(1))
            usable_epsg(code)
            try:
                return CRS.from_epsg(code)
            except CRSError:
                raise DevscoreError(f"unknown EPSG code {code}") from None
    raise DevscoreError(f"unsupported CRS {text[:40]!r}: give {ACCEPTED_FORMS}")


def _crs_dependency(alias: str | None, description: str):
    # no postponed annotations in this module: FastAPI reads this signature at run time
    def dependency(crs: Annotated[Optional[str], Query(alias=alias, description=description, max_length=200)] = None
                   ) -> Optional[CRS]:
        return parse_crs(crs) if crs else None

    dependency.__doc__ = f"{description} (EPSG codes and OGC names only)."
    return dependency


#: TiTiler's CRS dependencies and their strict replacements.
CRS_OVERRIDES = {
    CRSParams: _crs_dependency(None, "Coordinate Reference System."),
    CoordCRSParams: _crs_dependency("coord_crs", "Coordinate Reference System of the input coords (EPSG:4326)."),
    DstCRSParams: _crs_dependency("dst_crs", "Output Coordinate Reference System."),
}


@contextlib.contextmanager
def built_with(replacements: dict[Callable[..., Any], Callable[..., Any]]) -> Iterator[None]:
    """While the block runs, TiTiler's modules name ``replacements``' values where they named its keys,
    so the factories built in it declare the replacements in their routes (``Depends(CRSParams)`` is
    evaluated when a route is registered). FastAPI's ``dependency_overrides`` would do the same per
    request, at a price: with any override set, FastAPI rebuilds every dependency of every request
    from its signature (about a third of an uncached tile's time). Not thread-safe: build apps in one
    thread. ``tests/test_server_hardening.py`` checks that no route keeps a replaced dependency."""
    by_id = {id(original): replacement for original, replacement in replacements.items()}
    swapped = [(module, name, value) for module_name, module in list(sys.modules.items())
               if module_name.split(".")[0] == "titiler" and module is not None
               for name, value in list(vars(module).items()) if id(value) in by_id]
    for module, name, value in swapped:
        setattr(module, name, by_id[id(value)])
    try:
        yield
    finally:
        for module, name, value in swapped:
            setattr(module, name, value)
