"""Legends: a colour ramp with ticks per layer kind, as PNG (``/legend.png``), for QGIS (WMTS
LegendURL), the map page and the compare page. Scores are linear over [0, 1] in RdYlGn_r; night lights
use the log-spaced magma ramp of their render extension, so their ticks are placed on log1p(radiance)."""

from __future__ import annotations

import functools
import io
import re
from typing import Literal

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.constants import (CHANGE_COLLECTION_ID, CHANGE_DISPLAY, COLLECTION_ID, SCORE_MAX, SCORE_MIN,
                                 UNCERTAINTY_ASSET, UNCERTAINTY_COLORMAP, UNCERTAINTY_DISPLAY)
from publisher.nightlights.clip import UNIT
from publisher.nightlights.stac import BASE_COLORMAP, COLLECTION_ID as NIGHTLIGHTS_ID, DISPLAY_MAX

#: Legend image size in pixels (QGIS shows it at this size beside the layer).
WIDTH, HEIGHT = 320, 72
#: Per collection: matplotlib colormap, ticks, title, and whether ticks sit on log1p of the value.
LEGENDS = {
    COLLECTION_ID: ("RdYlGn_r", [SCORE_MIN, 0.25, 0.5, 0.75, SCORE_MAX], "development score (0 least, 1 most)", False),
    NIGHTLIGHTS_ID: (BASE_COLORMAP, [0, 1, 3, 10, 30, DISPLAY_MAX], f"night-light radiance, {UNIT}", True),
    CHANGE_COLLECTION_ID: ("RdBu", [-CHANGE_DISPLAY, -CHANGE_DISPLAY / 2, 0, CHANGE_DISPLAY / 2, CHANGE_DISPLAY],
                           "score change, later minus earlier", False),
    # the score items' uncertainty asset (tiler_app/uncertainty.py): the spread over the scorer ensemble
    UNCERTAINTY_ASSET: (UNCERTAINTY_COLORMAP, [0, UNCERTAINTY_DISPLAY / 4, UNCERTAINTY_DISPLAY / 2,
                                               3 * UNCERTAINTY_DISPLAY / 4, UNCERTAINTY_DISPLAY],
                        "uncertainty: SD of the chip's percentile rank", False),
}
Kind = Literal["devscore-scores", "viirs-nightlights", "devscore-change", "uncertainty"]
#: Route prefixes whose WMTS layers take another legend than the scores'.
ROUTE_LEGENDS = {"/nightlights/": NIGHTLIGHTS_ID, "/change/": CHANGE_COLLECTION_ID, "/uncertainty/": UNCERTAINTY_ASSET}

router = APIRouter(tags=["Legends"])


@functools.lru_cache(maxsize=len(LEGENDS))
def legend_png(collection_id: str) -> bytes:
    """The legend of ``collection_id``'s default render as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    name, ticks, title, log = LEGENDS[collection_id]
    top = ticks[-1]
    position = (lambda v: np.log1p(v) / np.log1p(top)) if log else (lambda v: (np.asarray(v) - ticks[0]) / (top - ticks[0]))
    figure = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    axes = figure.add_axes((0.04, 0.45, 0.92, 0.3))
    axes.imshow(np.linspace(0, 1, 256)[None, :], aspect="auto", cmap=colormaps[name], extent=(0, 1, 0, 1))
    axes.set_yticks([])
    axes.set_xticks([float(position(t)) for t in ticks], [f"{t:g}" for t in ticks], fontsize=9)
    axes.set_title(title, fontsize=9, pad=3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", transparent=False, facecolor="white")
    return buffer.getvalue()


@router.get("/legend.png", response_class=Response)
def legend(collection: Kind = Query(COLLECTION_ID, description="the layer kind: scores, night lights, change or "
                                                                 "uncertainty")) -> Response:
    """The colour ramp of a layer kind with its ticks and unit (PNG)."""
    return Response(legend_png(collection), media_type="image/png",
                    headers={"Cache-Control": "public, max-age=86400"})


_STYLE = re.compile(rb"(<Style isDefault=\"true\">\s*<ows:Title>[^<]*</ows:Title>\s*<ows:Identifier>[^<]*</ows:Identifier>)")


class WMTSLegends:
    """ASGI middleware: every layer of a WMTS capabilities document gets a LegendURL, so QGIS shows the
    ramp in its legend (TiTiler's template has none). Night-light, change and uncertainty routes get theirs
    (``ROUTE_LEGENDS``), others the scores'."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.endswith("/WMTSCapabilities.xml"):
            await self.app(scope, receive, send)
            return
        kind = next((k for prefix, k in ROUTE_LEGENDS.items() if path.startswith(prefix)), COLLECTION_ID)
        host = dict(scope.get("headers", [])).get(b"host", b"127.0.0.1").decode("latin-1")
        url = f"{scope.get('scheme', 'http')}://{host}/legend.png?collection={kind}"
        start: list[Message] = []
        body = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            content = b"".join(body)
            if start[0]["status"] == 200:
                legend_url = (f'<LegendURL format="image/png" xlink:href="{url}" width="{WIDTH}" '
                              f'height="{HEIGHT}"/>').encode()
                content = _STYLE.sub(lambda m: m.group(1) + legend_url, content)
            headers = [(k, v) for k, v in start[0]["headers"] if k.lower() != b"content-length"]
            await send({**start[0], "headers": [*headers, (b"content-length", str(len(content)).encode())]})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, capture)


