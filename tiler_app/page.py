"""The map page at ``/``: MapLibre GL (installed from npm into node_modules, never from a CDN)
showing each year's score mosaic with a legend, an opacity slider and the score under the cursor."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from rio_tiler.colormap import cmap

from publisher.constants import COLORMAP, SCORE_MAX, SCORE_MIN
from publisher.errors import DevscoreError

STATIC = Path(__file__).resolve().parent / "static"
#: node_modules of the checkout (make setup runs npm ci there); DEVSCORE_NODE_MODULES overrides it.
NODE_MODULES = Path(os.environ.get("DEVSCORE_NODE_MODULES", Path(__file__).resolve().parents[1] / "node_modules"))
LEGEND_STOPS = 11
#: MapLibre's files the map and compare pages load from /vendor/maplibre-gl/.
MAPLIBRE_FILES = ("maplibre-gl.mjs", "maplibre-gl.css")


class WebAssetsMissing(DevscoreError):
    """MapLibre is not installed where the server serves it from: the pages would stay grey."""


def check_web_assets(node_modules: Path = NODE_MODULES) -> Path:
    """MapLibre's dist folder, or WebAssetsMissing naming what is missing and how to install it."""
    dist = node_modules / "maplibre-gl" / "dist"
    missing = [name for name in MAPLIBRE_FILES if not (dist / name).is_file()]
    if missing:
        raise WebAssetsMissing(f"the map page needs MapLibre, but {dist / missing[0]} is missing: run `make web` "
                               f"(npm ci) in the checkout, or set DEVSCORE_NODE_MODULES to a node_modules folder")
    return dist

router = APIRouter(tags=["Map page"])


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The map page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/config.json")
def config(request: Request) -> JSONResponse:
    """Settings the page reads: optional basemap and the legend of the score colormap."""
    colors = cmap.get(COLORMAP)
    stops = [SCORE_MIN + (SCORE_MAX - SCORE_MIN) * i / (LEGEND_STOPS - 1) for i in range(LEGEND_STOPS)]
    legend = [{"value": round(v, 2), "color": "#{:02x}{:02x}{:02x}".format(*colors[round(v * 255)][:3])} for v in stops]
    return JSONResponse({"basemap_url": request.app.state.basemap_url, "legend": legend, "colormap": COLORMAP})


def mount_page(app: FastAPI) -> None:
    """Add the page, its own files and MapLibre's distribution files to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    maplibre = NODE_MODULES / "maplibre-gl" / "dist"
    if maplibre.is_dir():  # `devscore serve` refuses to start without it (check_web_assets)
        app.mount("/vendor/maplibre-gl", StaticFiles(directory=maplibre), name="maplibre")
