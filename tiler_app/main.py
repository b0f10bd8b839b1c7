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
import gc
import logging
import shutil
from pathlib import Path

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from titiler.core.dependencies import ZoomsParams
from titiler.core.factory import TilerFactory
from titiler.extensions.wmts import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaic_wmtsExtension
from titiler.mosaic.factory import MosaicTilerFactory

from catalog.api.app import create_stac_api
from catalog.api.backend import StaticCatalogBackend
from catalog.reader import StaticCatalog
from publisher import __version__
from tiler_app.budget import BandsReadOnce, RequestBudget
from tiler_app.cache import TileCache, open_store
from tiler_app.dependencies import (
    COORDINATE_CHECKS,
    ITEM_CHECKS,
    MOSAIC_PARAMETER_DEPENDENCIES,
    PARAMETER_DEPENDENCIES,
    ItemColorMap,
    ItemRendering,
    YearColorMap,
    YearRendering,
    gdal_environment,
    item_score_path,
    year_mosaic_id,
)
from tiler_app.errors import install_error_handlers
from tiler_app.gridtiles import GridReader
from tiler_app.http import CatalogFiles, HeadAsGet, OneCatalogVersion
from tiler_app.legend import WMTSLegends
from tiler_app.legend import router as legend_router
from tiler_app.limits import SUPPORTED_TMS, advertised_zooms, request_limits
from tiler_app.links import LAYER_KINDS, collection_links_for, item_links, layer_title, layer_urls, wmts_layer, year_root
from tiler_app.mosaic import item_reader, year_backend
from tiler_app.nightlights import mount_nightlights
from tiler_app.render import render_tile
from tiler_app.slots import RenderSlots
from tiler_app.zonal import mount_zonal
from tiler_app.change import mount_change
from tiler_app.uncertainty import mount_uncertainty
from tiler_app.page import mount_page
from tiler_app.security import CRS_OVERRIDES, built_with

log = logging.getLogger(__name__)

#: Disk (and page cache) for rendered tiles (a 256 px score tile is 1 to 20 kB).
DEFAULT_TILE_CACHE_MB = 256

ITEM_PREFIX = "/collections/{collection_id}/items/{item_id}"
YEAR_PREFIX = "/collections/{collection_id}/years/{year}"


def year_layers(catalog: StaticCatalog, origin: str) -> list[dict]:
    """Every year layer of the scores and the night lights with its items, title, URLs, point-query route
    and legend (models have none)."""
    present = catalog.collection_ids()
    return [
        {"collection": cid, "year": year, "items": [r.id for r in catalog.items_for_year(cid, year)],
         "title": layer_title(cid, str(year)), "legend": f"{origin}/legend.png?collection={cid}",
         "point": f"{year_root(origin, cid, year)}/point/{{lon}},{{lat}}", "wmts_layer": wmts_layer(cid, year),
         **layer_urls(year_root(origin, cid, year))}
        for cid in LAYER_KINDS if cid in present for year in catalog.years(cid)
    ]


def open_catalog(catalog_dir: str | Path | None = None, pgstac: str | None = None):
    """The catalog a server reads: the static catalog at ``catalog_dir`` or the pgstac database ``pgstac``."""
    if (catalog_dir is None) == (pgstac is None):
        raise ValueError("give a static catalog folder or a pgstac DSN, not both")
    if pgstac is not None:
        from catalog.pgstac.read import PgstacCatalog  # psycopg only for pgstac servers

        return PgstacCatalog(pgstac)
    return StaticCatalog(catalog_dir)


def _search_backend(catalog):
    if isinstance(catalog, StaticCatalog):
        return StaticCatalogBackend(catalog)
    from catalog.pgstac.read import PgstacBackend

    return PgstacBackend(catalog)


def create_app(catalog_dir: str | Path | None = None, *, pgstac: str | None = None, basemap_url: str | None = None,
               tile_cache_mb: int = DEFAULT_TILE_CACHE_MB, tile_cache_dir: str | None = None) -> FastAPI:
    """The server for the static catalog at ``catalog_dir`` or the pgstac database at ``pgstac`` (a
    DSN). ``tile_cache_mb`` bounds the cache of rendered tiles (0: render every request), kept in
    ``tile_cache_dir`` (workers and servers given the same folder share it; a new temporary folder
    when None). Every route is built with the strict CRS parameters and the advertised WMTS zooms in
    place of TiTiler's (``tiler_app.security.built_with``, not ``dependency_overrides``)."""
    with built_with({**CRS_OVERRIDES, ZoomsParams: advertised_zooms}):
        return _build_app(catalog_dir, pgstac, basemap_url, tile_cache_mb, tile_cache_dir)


def _build_app(catalog_dir: str | Path | None, pgstac: str | None, basemap_url: str | None, tile_cache_mb: int,
               tile_cache_dir: str | None) -> FastAPI:
    catalog = open_catalog(catalog_dir, pgstac)
    store = open_store(tile_cache_dir, tile_cache_mb) if tile_cache_mb > 0 else None
    search_backend = _search_backend(catalog)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # index the catalog before this process takes requests (uvicorn accepts after startup), not
        # inside the first search: each worker of several would build it while others queue behind it
        try:
            await anyio.to_thread.run_sync(search_backend.collections)
        except Exception as error:  # the requests that need the index say what is wrong
            log.warning("catalog not indexed at startup: %s", error)
        # what startup built (a national catalog: millions of objects) lives as long as the process: out
        # of the collector's sight, or each full collection stops the worker for half a second
        gc.freeze()
        yield
        if hasattr(catalog, "close"):
            catalog.close()
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
        reader=GridReader,
        path_dependency=item_score_path,
        colormap_dependency=ItemColorMap,
        render_dependency=ItemRendering,
        router_prefix=ITEM_PREFIX,
        supported_tms=SUPPORTED_TMS,
        render_func=render_tile,
        extensions=[wmtsExtension(layer_identifier_provider=lambda path: Path(path).parent.name)],
        route_dependencies=ITEM_CHECKS,
        environment_dependency=gdal_environment,
        add_viewer=False,
        **PARAMETER_DEPENDENCIES,
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
        render_func=render_tile,
        extensions=[mosaic_wmtsExtension(layer_identifier_provider=lambda key: key.replace("/", "-"))],
        route_dependencies=COORDINATE_CHECKS,
        environment_dependency=gdal_environment,
        add_viewer=False,
        **MOSAIC_PARAMETER_DEPENDENCIES,
    )
    app.include_router(years.router, prefix=YEAR_PREFIX, tags=["Year mosaics"])

    if catalog.root is not None:  # pgstac items name their asset files themselves
        app.mount("/catalog", CatalogFiles(directory=catalog.root), name="catalog")
    app.mount("/stac", create_stac_api(
        search_backend,
        files_url=lambda request: f"{request.url.scheme}://{request.url.netloc}/catalog",
        item_links=item_links,
        collection_links=collection_links_for(catalog),
        mount_path="/stac",
    ))
    app.add_middleware(RenderSlots)  # inside the cache: a cached tile does not wait for a render's turn
    if store is not None:  # inside CORS, so every response gets the CORS headers of its own request
        app.add_middleware(TileCache, version=catalog.version, store=store)
    if hasattr(catalog, "one_version"):  # outside the cache: its key is read in the request's block
        app.add_middleware(OneCatalogVersion, catalog=catalog)
    app.add_middleware(WMTSLegends)  # outside the cache: the legend URL names the request's own host
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
                       allow_headers=["*"], expose_headers=["Content-Range", "Accept-Ranges", "Content-Length"])
    app.add_middleware(HeadAsGet)
    app.add_middleware(BandsReadOnce)  # before the cache key and the limits: a repeated band is one band
    app.add_middleware(RequestBudget)  # outermost: URL and body caps and the time budget hold for everything
    install_error_handlers(app)

    mount_page(app)
    app.include_router(legend_router)
    mount_nightlights(app, catalog)
    mount_zonal(app)
    mount_change(app, catalog)
    mount_uncertainty(app, catalog)

    @app.get("/layers", tags=["Layers"])
    def layers(request: Request) -> dict:
        """Every collection, its years and the URLs of each year's layer."""
        return {"layers": year_layers(catalog, str(request.base_url).rstrip("/"))}

    return app
