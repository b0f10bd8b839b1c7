"""One layer per year: a cogeo-mosaic backend whose MosaicJSON is built from the catalog's items."""

from __future__ import annotations

import logging
from typing import Any

import attr
import morecantile
import shapely
import shapely.geometry

_ROOT_LEVEL = logging.getLogger().level
from cogeo_mosaic.backends.base import MosaicJSONBackend  # noqa: E402
from cogeo_mosaic.mosaic import MosaicJSON  # noqa: E402

logging.getLogger().setLevel(_ROOT_LEVEL)  # cogeo_mosaic.utils sets the root logger to INFO when imported

from catalog.reader import StaticCatalog
from publisher.constants import SCORE_ASSET
from tiler_app.gridtiles import GridReader
from tiler_app.memo import built_once

#: Zoom range of the year mosaics in WebMercatorQuad: z2 shows a continent (from the COG overviews),
#: z14 is ~10 m pixels. Items are indexed by z7 quadkeys (one granule spans a few), so a low-zoom tile
#: looks up only the quadkeys under it.
MINZOOM, MAXZOOM, QUADKEY_ZOOM = 2, 14, 7
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


def _polygons(geometry: dict) -> list[dict]:
    """The polygons of a footprint: a granule split at the antimeridian is two, each indexed apart."""
    if geometry["type"] == "MultiPolygon":
        return [{"type": "Polygon", "coordinates": rings} for rings in geometry["coordinates"]]
    return [geometry]


def quadkey_index(features: list[dict], zoom: int = QUADKEY_ZOOM) -> dict[str, list[str]]:
    """The assets (``properties.asset``) of ``features`` under each WebMercatorQuad tile at ``zoom``, in
    feature order: what ``MosaicJSON.from_features`` computes (footprints against tile boxes in
    longitude/latitude), without its burn of every footprint into tiles (24 s for the 2,211 granules
    of a country; the candidate tiles here are those under each footprint's bbox)."""
    tms = WEB_MERCATOR
    geoms = [shapely.geometry.shape(feature["geometry"]) for feature in features]
    tree = shapely.STRtree(geoms)
    candidates = dict.fromkeys(tile for geom in geoms for tile in tms.tiles(*geom.bounds, [zoom]))
    index = {}
    for tile in candidates:
        hits = sorted(tree.query(shapely.box(*tms.bounds(tile)), predicate="intersects"))
        if hits:
            index[tms.quadkey(tile)] = [features[i]["properties"]["asset"] for i in hits]
    return index


@built_once(maxsize=64)
def _mosaic(catalog: StaticCatalog, collection_id: str, year: int, version: float) -> MosaicJSON:
    """MosaicJSON of the year's items (named ``{collection}/{item}``, never by file path); ``version``
    (the collection file's mtime) keys the cache so a publish shows up in the next request."""
    features = [
        {"type": "Feature", "geometry": part, "properties": {"asset": f"{collection_id}/{record.id}"}}
        for record in catalog.items_for_year(collection_id, year) if SCORE_ASSET in record.assets
        for part in _polygons(record.item["geometry"])
    ]
    if not features:  # MosaicJSON.from_features refuses an empty list the same way
        return MosaicJSON.from_features(features, minzoom=MINZOOM, maxzoom=MAXZOOM, quadkey_zoom=QUADKEY_ZOOM,
                                        quiet=True)
    bounds = shapely.geometry.MultiPolygon([shapely.geometry.shape(f["geometry"]) for f in features]).bounds
    return MosaicJSON(mosaicjson="0.0.3", minzoom=MINZOOM, maxzoom=MAXZOOM, quadkey_zoom=QUADKEY_ZOOM,
                      bounds=bounds, center=((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, MINZOOM),
                      tiles=quadkey_index(features))


#: Degrees added around an item's footprint bbox when picking the granules under a tile (a footprint's
#: edges are straight in UTM, slightly curved in longitude/latitude).
FOOTPRINT_MARGIN_DEG = 0.01


@built_once(maxsize=64)
def _footprint_boxes(catalog: StaticCatalog, collection_id: str, year: int, version: float) -> dict[str, list[tuple]]:
    """Longitude/latitude bboxes of each asset's footprint parts, keyed like the mosaic's assets."""
    boxes: dict[str, list[tuple]] = {}
    for record in catalog.items_for_year(collection_id, year):
        for part in _polygons(record.item["geometry"]):
            lons, lats = zip(*part["coordinates"][0])
            boxes.setdefault(f"{collection_id}/{record.id}", []).append((min(lons), min(lats), max(lons), max(lats)))
    return boxes


def item_reader(catalog: StaticCatalog) -> type[GridReader]:
    """A rio-tiler Reader that opens ``{collection}/{item}`` as that item's score COG in ``catalog``
    (its tiles sampled from the chip-constant COG, not warped: ``tiler_app.gridtiles``)."""

    @attr.s
    class CatalogItemReader(GridReader):
        """Reader of an item's score asset, addressed by ids."""

        def __attrs_post_init__(self) -> None:
            collection_id, item_id = self.input.split("/", 1)
            self.input = str(catalog.asset_path(collection_id, item_id, SCORE_ASSET))
            super().__attrs_post_init__()

    return CatalogItemReader


def year_backend(catalog: StaticCatalog) -> type[MosaicJSONBackend]:
    """A backend class bound to ``catalog`` that opens ``{collection}/{year}`` mosaics."""

    @attr.s
    class CatalogYearBackend(MosaicJSONBackend):
        """Read-only mosaic of one collection and year of the catalog."""

        _backend_name = "devscore-catalog"

        def _read(self) -> MosaicJSON:
            collection_id, year = self.input.rsplit("/", 1)
            self._key = (catalog, collection_id, int(year), catalog.collection(collection_id).mtime)
            return _mosaic(*self._key)

        @property
        def mosaicid(self) -> str:
            """The mosaic's identity, which the document is built from (cogeo-mosaic hashes the whole
            document, a country's quadkey index, for every tile it looks up: 1.5 ms a tile)."""
            _, collection_id, year, version = self._key
            return f"{collection_id}/{year}@{version}"

        def assets_for_tile(self, x: int, y: int, z: int, **kwargs: Any) -> list[str]:
            """The assets of the tile's quadkeys whose footprint meets the tile (a quadkey at QUADKEY_ZOOM
            holds every granule of a z7 tile: a deeper tile meets few of them, and each other one
            would be opened for nothing)."""
            assets = super().assets_for_tile(x, y, z, **kwargs)
            west, south, east, north = self.tms.bounds(x, y, z)
            boxes = _footprint_boxes(*self._key)
            m = FOOTPRINT_MARGIN_DEG
            return [asset for asset in assets if asset not in boxes or any(
                w - m < east and e + m > west and s - m < north and n + m > south for w, s, e, n in boxes[asset])]

        def tile(self, x: int, y: int, z: int, search_options: dict | None = None, **kwargs: Any):
            """The mosaic tile, its granules read one after another in the request's own thread (rio-tiler
            starts a new thread pool per request otherwise, whose fresh threads reopen every COG and
            rebuild every PROJ transformer that ``tiler_app.gridtiles`` keeps per thread); the reads
            stop once every pixel is filled, and the pixels are the same."""
            return super().tile(x, y, z, search_options, **{**kwargs, "threads": 0})

        def write(self, overwrite: bool = True) -> None:
            raise NotImplementedError("catalog mosaics are read-only")

    return CatalogYearBackend
