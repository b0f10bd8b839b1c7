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

STATIC = Path(__file__).resolve().parent / "static"
#: node_modules of the checkout (make setup runs npm ci there); DEVSCORE_NODE_MODULES overrides it.
NODE_MODULES = Path(os.environ.get("DEVSCORE_NODE_MODULES", Path(__file__).resolve().parents[1] / "node_modules"))
LEGEND_STOPS = 11

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
    if maplibre.is_dir():
        app.mount("/vendor/maplibre-gl", StaticFiles(directory=maplibre), name="maplibre")
