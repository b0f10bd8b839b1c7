"""The devscore server: an app assembled from TiTiler factories over one static catalog.

Routes (all read the catalog only):
- ``/collections/{collection_id}/items/{item_id}/...``: the item's score COG (TiTiler TilerFactory):
  tiles, tilejson.json, WMTSCapabilities.xml, point, statistics, preview, info.
- ``/collections/{collection_id}/years/{year}/...``: a mosaic of all items of that year
  (TiTiler MosaicTilerFactory over a catalog-backed cogeo-mosaic backend).
- ``/catalog/...``: the static catalog files themselves (CORS on) for STAC Browser and GDAL.
- ``/stac``: the STAC API (stac-fastapi over the SQLite index), items carrying web-map links.
- ``/``: the MapLibre map page (``tiler_app.page``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from titiler.core.factory import TilerFactory
from titiler.extensions.wmts import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaic_wmtsExtension
from titiler.mosaic.factory import MosaicTilerFactory

from catalog.api.app import create_stac_api
from catalog.api.backend import StaticCatalogBackend
from catalog.reader import StaticCatalog
from publisher import __version__
from publisher.constants import COLLECTION_ID
from tiler_app.budget import RequestBudget
from tiler_app.cache import TileCache, open_store
from tiler_app.dependencies import (
    COORDINATE_CHECKS,
    ITEM_CHECKS,
    ItemColorMap,
    ItemRendering,
    YearColorMap,
    YearRendering,
    item_score_path,
    year_mosaic_id,
)
from tiler_app.errors import install_error_handlers
from tiler_app.http import CatalogFiles, HeadAsGet
from tiler_app.limits import SUPPORTED_TMS, request_limits
from tiler_app.links import collection_links_for, item_links, layer_urls, year_root
from tiler_app.mosaic import item_reader, year_backend
from tiler_app.nightlights import mount_nightlights
from tiler_app.page import mount_page
from tiler_app.security import GDAL_LOCKDOWN, confine_crs_parameters

log = logging.getLogger(__name__)

#: Disk (and page cache) for rendered tiles (a 256 px score tile is 1 to 20 kB).
DEFAULT_TILE_CACHE_MB = 256

ITEM_PREFIX = "/collections/{collection_id}/items/{item_id}"
YEAR_PREFIX = "/collections/{collection_id}/years/{year}"


def year_layers(catalog: StaticCatalog, origin: str) -> list[dict]:
    """Every year layer of the score collection with its items and URLs (night lights have their own,
    under /nightlights; models have none)."""
    years = catalog.years(COLLECTION_ID) if COLLECTION_ID in catalog.collection_ids() else []
    return [
        {"collection": COLLECTION_ID, "year": year, "items": [r.id for r in catalog.items_for_year(COLLECTION_ID, year)],
         **layer_urls(year_root(origin, COLLECTION_ID, year))}
        for year in years
    ]


def create_app(catalog_dir: str | Path, *, basemap_url: str | None = None,
               tile_cache_mb: int = DEFAULT_TILE_CACHE_MB, tile_cache_dir: str | None = None) -> FastAPI:
    """The server for the static catalog at ``catalog_dir``. ``tile_cache_mb`` bounds the cache of
    rendered tiles (0: render every request), kept in ``tile_cache_dir`` (workers given the same
    folder share it; a new temporary folder when None)."""
    catalog = StaticCatalog(catalog_dir)
    store = open_store(tile_cache_dir, tile_cache_mb) if tile_cache_mb > 0 else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if store is not None:  # a cache folder the app made itself goes with it
            store.close()
            if tile_cache_dir is None:
                shutil.rmtree(store.directory, ignore_errors=True)

    app = FastAPI(
        title="devscore",
        version=__version__,
        description="Economic-development score layers: XYZ/WMTS tiles per item and per year, and the "
                    "static STAC catalog.",
        lifespan=lifespan,
        # every route of every router (night lights and any later one included) goes through the limits
        dependencies=[Depends(request_limits)],
    )
    app.state.catalog = catalog
    app.state.basemap_url = basemap_url

    items = TilerFactory(
        path_dependency=item_score_path,
        colormap_dependency=ItemColorMap,
        render_dependency=ItemRendering,
        router_prefix=ITEM_PREFIX,
        supported_tms=SUPPORTED_TMS,
        extensions=[wmtsExtension(layer_identifier_provider=lambda path: Path(path).parent.name)],
        route_dependencies=ITEM_CHECKS,
        environment_dependency=lambda: GDAL_LOCKDOWN,
        add_viewer=False,
    )
    app.include_router(items.router, prefix=ITEM_PREFIX, tags=["Item tiles"])

    years = MosaicTilerFactory(
        backend=year_backend(catalog),
        dataset_reader=item_reader(catalog),
        path_dependency=year_mosaic_id,
        colormap_dependency=YearColorMap,
        render_dependency=YearRendering,
        router_prefix=YEAR_PREFIX,
        supported_tms=SUPPORTED_TMS,
        extensions=[mosaic_wmtsExtension(layer_identifier_provider=lambda key: key.replace("/", "-"))],
        route_dependencies=COORDINATE_CHECKS,
        environment_dependency=lambda: GDAL_LOCKDOWN,
        add_viewer=False,
    )
    app.include_router(years.router, prefix=YEAR_PREFIX, tags=["Year mosaics"])
    confine_crs_parameters(app)

    app.mount("/catalog", CatalogFiles(directory=catalog.root), name="catalog")
    app.mount("/stac", create_stac_api(
        StaticCatalogBackend(catalog),
        files_url=lambda request: f"{request.url.scheme}://{request.url.netloc}/catalog",
        item_links=item_links,
        collection_links=collection_links_for(catalog),
        mount_path="/stac",
    ))
    if store is not None:  # inside CORS, so every response gets the CORS headers of its own request
        app.add_middleware(TileCache, version=catalog.version, store=store)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
                       allow_headers=["*"], expose_headers=["Content-Range", "Accept-Ranges", "Content-Length"])
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestBudget)  # outermost: URL and body caps and the time budget hold for everything
    install_error_handlers(app)

    mount_page(app)
    mount_nightlights(app, catalog)

    @app.get("/layers", tags=["Layers"])
    def layers(request: Request) -> dict:
        """Every collection, its years and the URLs of each year's layer."""
        return {"layers": year_layers(catalog, str(request.base_url).rstrip("/"))}

    return app
