"""ASGI entry point for uvicorn workers: the app for the catalog named by DEVSCORE_CATALOG (or the pgstac
database named by DEVSCORE_PGSTAC); workers
started with the same DEVSCORE_TILE_CACHE_DIR share one tile cache. The process runs under
GDAL_LOCKDOWN (tiler_app.security)."""

import os

from tiler_app.security import process_environment

os.environ.update(process_environment())  # before any GDAL call of this process: no network, no VRT

from tiler_app.main import DEFAULT_TILE_CACHE_MB, create_app  # noqa: E402

app = create_app(os.environ.get("DEVSCORE_CATALOG"), pgstac=os.environ.get("DEVSCORE_PGSTAC"),
                 basemap_url=os.environ.get("DEVSCORE_BASEMAP_URL"),
                 tile_cache_mb=int(os.environ.get("DEVSCORE_TILE_CACHE_MB", DEFAULT_TILE_CACHE_MB)),
                 tile_cache_dir=os.environ.get("DEVSCORE_TILE_CACHE_DIR"))
