"""``devscore serve``: the tile server over a published catalog, on uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath

log = logging.getLogger(__name__)


def layer_urls(catalog_dir: Path | None, base_url: str, pgstac: str | None = None) -> list[str]:
    """Lines naming the URLs a user pastes into QGIS, a web map or a STAC client."""
    from tiler_app.main import open_catalog, year_layers

    catalog = open_catalog(catalog_dir, pgstac)
    lines = [f"Map page:                      {base_url}/",
             f"STAC API (pystac-client):      {base_url}/stac"]
    if pgstac is None:
        lines.append(f"Static catalog (STAC Browser): {base_url}/catalog/catalog.json")
    lines.append(f"API docs:                      {base_url}/docs")
    layers = year_layers(catalog, base_url)
    if pgstac is not None:
        catalog.close()
    for layer in layers:
        lines += [f"{layer['collection']} {layer['year']}: {layer['title']}",
                  f"  XYZ (QGIS, 256 px): {layer['xyz']}",
                  f"  TileJSON:           {layer['tilejson']}",
                  f"  WMTS:               {layer['wmts']} (layer {layer['wmts_layer']})",
                  f"  Legend:             {layer['legend']}"]
    return lines


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--catalog", "catalog_dir", default=None, type=NonEmptyPath(path_type=Path, file_okay=False, exists=True),
              help="Static catalog folder written by `devscore publish`.")
@click.option("--pgstac", "pgstac", default=None, metavar="DSN",
              help="Serve the pgstac database at DSN (postgresql://...) instead of a static catalog.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--basemap-url", default=None, help="XYZ template of a basemap for the map page (none: offline).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="uvicorn worker processes; on Linux each listens on its own socket, so connections spread over them.")
@click.option("--tile-cache-mb", default=256, show_default=True, type=click.IntRange(0, 65536),
              help="Size of the tile cache all workers share; a publish that changes the catalog retires "
                   "its tiles (0: off).")
@click.option("--tile-cache-dir", default=None, type=click.Path(path_type=Path, file_okay=False),
              help="Folder of the tile cache, to share it between servers started apart (default: a temporary "
                   "folder of this server, removed when it stops).")
def serve(catalog_dir: Path | None, pgstac: str | None, host: str, port: int, basemap_url: str | None, workers: int,
          tile_cache_mb: int, tile_cache_dir: Path | None) -> None:
    """Serve the catalog's score layers as XYZ/WMTS tiles, per item and per year.

    Only the catalog's own assets can be read. Each collection-year is one mosaic layer; each item
    has its own tiles, TileJSON, WMTS, point query, statistics and preview under
    /collections/{collection}/items/{item}/. Rendering defaults come from the render extension
    (RdYlGn_r over [0, 1]); colormap_name and rescale override them. Rendered tiles are kept in
    one cache all workers share (--tile-cache-mb) until a publish changes the catalog.

    With --pgstac DSN the catalog is a pgstac database (loaded by `devscore publish --pgstac`): several
    servers, started apart on any machines, serve it at once and see each publish at their next
    request; give them one --tile-cache-dir on a shared disk to share rendered tiles too. Asset files
    are read where the database says they are.
    """
    import contextlib
    import os
    import tempfile

    from tiler_app.page import WebAssetsMissing, check_web_assets
    from tiler_app.security import process_environment
    from tiler_app.supervisor import CACHE_PREFIX, claim_cache, remove_stale_caches, run_server

    if (catalog_dir is None) == (pgstac is None):
        raise click.UsageError("give --catalog DIR or --pgstac DSN (one of them)")
    try:
        check_web_assets()
    except WebAssetsMissing as exc:
        raise click.ClickException(str(exc)) from None
    if catalog_dir is not None:
        from catalog.reader import StaticCatalog
        from publisher.constants import COLLECTION_ID
        from publisher.errors import DevscoreError

        if COLLECTION_ID not in StaticCatalog(catalog_dir).collection_ids():  # also refuses a catalog.json it cannot read
            raise DevscoreError(f"{catalog_dir} holds no score layers ({COLLECTION_ID}): run devscore publish into it first")
    base = f"http://{host}:{port}"
    for line in layer_urls(catalog_dir, base, pgstac):
        click.echo(line)
    if pgstac is not None:
        os.environ["DEVSCORE_PGSTAC"] = pgstac
    else:
        os.environ["DEVSCORE_CATALOG"] = str(catalog_dir.resolve())
    os.environ["DEVSCORE_TILE_CACHE_MB"] = str(tile_cache_mb)
    if basemap_url:
        os.environ["DEVSCORE_BASEMAP_URL"] = basemap_url
    os.environ.update(process_environment())  # workers inherit it: GDAL opens no URL and no VRT
    for folder in remove_stale_caches():
        log.info("removed the tile cache of a server that is gone: %s", folder)
    with contextlib.ExitStack() as stack:
        if tile_cache_dir is not None:  # shared with other servers: never claimed, never removed
            tile_cache_dir.mkdir(parents=True, exist_ok=True)
            cache_dir = str(tile_cache_dir.resolve())
        else:
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix=CACHE_PREFIX))
            claim_cache(Path(cache_dir))
        os.environ["DEVSCORE_TILE_CACHE_DIR"] = cache_dir
        # access lines (uvicorn.access at info); uvicorn's own debug only when devscore logs debug
        run_server("tiler_app.asgi:app", host, port, workers,
                   log_level="debug" if logging.getLogger("tiler_app").getEffectiveLevel() <= logging.DEBUG else "info")
