"""One layer per year: a cogeo-mosaic backend whose MosaicJSON is built from the catalog's items."""

from __future__ import annotations

import functools
import logging

import attr

_ROOT_LEVEL = logging.getLogger().level
from cogeo_mosaic.backends.base import MosaicJSONBackend  # noqa: E402
from cogeo_mosaic.mosaic import MosaicJSON  # noqa: E402

logging.getLogger().setLevel(_ROOT_LEVEL)  # cogeo_mosaic.utils sets the root logger to INFO when imported

from catalog.reader import StaticCatalog
from publisher.constants import SCORE_ASSET
from tiler_app.gridtiles import GridReader

#: Zoom range of the year mosaics in WebMercatorQuad: z2 shows a continent (from the COG overviews),
#: z14 is ~10 m pixels. Items are indexed by z7 quadkeys (one granule spans a few), so a low-zoom tile
#: looks up only the quadkeys under it.
MINZOOM, MAXZOOM, QUADKEY_ZOOM = 2, 14, 7


def _polygons(geometry: dict) -> list[dict]:
    """The polygons of a footprint: a granule split at the antimeridian is two, each indexed apart."""
    if geometry["type"] == "MultiPolygon":
        return [{"type": "Polygon", "coordinates": rings} for rings in geometry["coordinates"]]
    return [geometry]


@functools.lru_cache(maxsize=64)
def _mosaic(catalog: StaticCatalog, collection_id: str, year: int, version: float) -> MosaicJSON:
    """MosaicJSON of the year's items (named ``{collection}/{item}``, never by file path); ``version``
    (the collection file's mtime) keys the cache so a publish shows up in the next request."""
    features = [
        {"type": "Feature", "geometry": part, "properties": {"asset": f"{collection_id}/{record.id}"}}
        for record in catalog.items_for_year(collection_id, year) if SCORE_ASSET in record.assets
        for part in _polygons(record.item["geometry"])
    ]
    return MosaicJSON.from_features(features, minzoom=MINZOOM, maxzoom=MAXZOOM, quadkey_zoom=QUADKEY_ZOOM,
                                    accessor=lambda feature: feature["properties"]["asset"], quiet=True)


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
            version = catalog.collection(collection_id).mtime
            return _mosaic(catalog, collection_id, int(year), version)

        def write(self, overwrite: bool = True) -> None:
            raise NotImplementedError("catalog mosaics are read-only")

    return CatalogYearBackend
