"""One factory for the layers the server tiles besides the scores (night lights by year, score change by year
pair, the scores' uncertainty by year): a reader that opens an item's COG by item id (no request names a file) and a read-only
MosaicJSON backend over the items a key (a year, a year pair) selects, rebuilt when the collection changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import attr
from cogeo_mosaic.backends.base import MosaicJSONBackend
from cogeo_mosaic.mosaic import MosaicJSON
from rio_tiler.io import Reader

from catalog.reader import ItemRecord, StaticCatalog
from tiler_app.memo import built_once
from tiler_app.mosaic import _polygons


@dataclass(frozen=True)
class ItemMosaic:
    """The items of ``collection_id`` whose ``asset`` the server tiles: ``select(catalog, key)`` gives the
    items of one mosaic; ``zooms`` are its (minzoom, maxzoom, quadkey zoom); ``name`` names its backend;
    ``base`` is the rio-tiler reader the item reader extends (the chip-grid reader for score-grid assets)."""

    catalog: StaticCatalog
    collection_id: str
    asset: str
    select: Callable[[StaticCatalog, str], list[ItemRecord]]
    zooms: tuple[int, int, int]
    name: str
    base: type[Reader] = Reader

    def reader(self) -> type[Reader]:
        """A rio-tiler Reader of one item's asset, addressed by item id."""
        spec = self

        @attr.s
        class ItemReader(spec.base):
            def __attrs_post_init__(self) -> None:
                self.input = str(spec.catalog.asset_path(spec.collection_id, self.input, spec.asset))
                super().__attrs_post_init__()

        return ItemReader

    def backend(self) -> type[MosaicJSONBackend]:
        """A read-only MosaicJSON backend whose input is a key of ``select``."""
        spec = self

        @attr.s
        class ItemMosaicBackend(MosaicJSONBackend):
            _backend_name = spec.name

            def _read(self) -> MosaicJSON:
                self._version = spec.catalog.collection(spec.collection_id).mtime
                return _mosaic(spec, str(self.input), self._version)

            @property
            def mosaicid(self) -> str:
                """The mosaic's identity (cogeo-mosaic would hash the whole document for every tile)."""
                return f"{spec.name}/{self.input}@{self._version}"

            def write(self, overwrite: bool = True) -> None:
                raise NotImplementedError("catalog mosaics are read-only")

        return ItemMosaicBackend


@built_once(maxsize=64)
def _mosaic(spec: ItemMosaic, key: str, version: float) -> MosaicJSON:
    """MosaicJSON of the items ``key`` selects (each polygon of a footprint split at the antimeridian
    indexed apart); ``version`` (the collection file's mtime) keys the cache so an update shows at once."""
    features = [{"type": "Feature", "geometry": part, "properties": {"asset": record.id}}
                for record in spec.select(spec.catalog, key) if spec.asset in record.assets
                for part in _polygons(record.item["geometry"])]
    minzoom, maxzoom, quadkey_zoom = spec.zooms
    return MosaicJSON.from_features(features, minzoom=minzoom, maxzoom=maxzoom, quadkey_zoom=quadkey_zoom,
                                    accessor=lambda feature: feature["properties"]["asset"], quiet=True)
