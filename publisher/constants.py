"""Constants of the Sentinel-2 grid, the chip layout and the published products, in one place."""

from typing import Final

#: Sentinel-2 L2A 10 m grid of one MGRS tile.
PIXEL_SIZE: Final = 10
GRANULE_SIZE: Final = 10980  # pixels per side
GRANULE_EXTENT_M: Final = GRANULE_SIZE * PIXEL_SIZE  # 109,800 m
#: The tile's corner lies on a 60 m lattice counted from easting 0 and from the equator.
CORNER_LATTICE_M: Final = 60

#: Chips: a 32 x 32 grid of 343 px squares; the 4 px east and south strip belongs to no chip.
CHIPS_PER_SIDE: Final = 32
CHIP_SIZE: Final = 343
CHIPPED_SIZE: Final = CHIPS_PER_SIDE * CHIP_SIZE  # 10976

#: Calendar years devscore accepts (Sentinel-2 imagery starts in 2015).
FIRST_YEAR: Final = 2015
LAST_YEAR: Final = 2100
#: Years a user may still publish on purpose (``--any-year``): what the server's year routes take.
SERVED_YEARS: Final = (1900, 2200)

#: Score raster encoding.
SCORE_DTYPE: Final = "float32"
SCORE_NODATA: Final = -9999.0
SCORE_MIN: Final = 0.0
SCORE_MAX: Final = 1.0
SCORE_BAND_DESCRIPTION: Final = "development score (0 least, 1 most developed)"
#: The spread of each chip's score over the scorer ensemble: the standard deviation over the members of the
#: chip's percentile rank within its granule-year (0 to 1, a share of its chips), same encoding; rendered over
#: 0..UNCERTAINTY_DISPLAY (the demo's 99th percentile is 0.20) with its own sequential colormap.
UNCERTAINTY_BAND_DESCRIPTION: Final = ("uncertainty: standard deviation over the scorer ensemble of the chip's "
                                       "percentile rank in its granule-year")
UNCERTAINTY_COLORMAP: Final = "viridis"
UNCERTAINTY_DISPLAY: Final = 0.2

#: Rendering defaults, as the method's published heat maps.
COLORMAP: Final = "rdylgn_r"  # rio-tiler's name for matplotlib's RdYlGn_r

#: Published collection.
COLLECTION_ID: Final = "devscore-scores"
COLLECTION_TITLE: Final = "devscore economic-development scores"
LICENSE: Final = "CC-BY-4.0"

#: Asset keys of every item.
SCORE_ASSET: Final = "score"
THUMBNAIL_ASSET: Final = "thumbnail"
CHIPS_ASSET: Final = "chips"
UNCERTAINTY_ASSET: Final = "uncertainty"

#: Change between years (``devscore-change``): later minus earlier score, rendered with a diverging
#: colormap centred on 0 over -CHANGE_DISPLAY..+CHANGE_DISPLAY (red: decline, blue: growth).
CHANGE_COLLECTION_ID: Final = "devscore-change"
CHANGE_ASSET: Final = "change"
CHANGE_COLORMAP: Final = "rdbu"
CHANGE_DISPLAY: Final = 0.5

#: Scene search defaults (shown by the CLI's help without importing the search code).
PLANETARY_COMPUTER: Final = "https://planetarycomputer.microsoft.com/api/stac/v1"
DEFAULT_MAX_CLOUD: Final = 30.0
#: Where the scenes came from, by the source an item records (``devscore:source``).
SOURCES: Final = {"synthetic": "synthetic Sentinel-2-like scenes (devscore synth)",
                  "planetary-computer": "Sentinel-2 L2A scenes from Planetary Computer",
                  "stac-api": "Sentinel-2 L2A scenes from a STAC API",
                  "local-catalog": "Sentinel-2 L2A scenes from a local STAC catalog"}

#: `devscore synth` defaults: four granules around Chengdu; scenes fall on the 12th of distinct months,
#: so a granule-year has at most 12 (scene ids are unique).
SYNTH_DEFAULT_TILES: Final = ("48RUU", "48RVU", "48RUT", "48RVT")
MAX_SCENES_PER_YEAR: Final = 12

#: Scorer input side that needs no resampling: the chip's own side.
NATIVE_INPUT_SIZE: Final = CHIP_SIZE
#: What the scorer sees of a chip: "gray", the method's luma replicated to 3 channels (the default: on real
#: imagery colour changes with the season, which a colour scorer can take for development), or "rgb", the
#: chip's own three colour channels (docs/science.md measures both).
BANDS: Final = ("gray", "rgb")
DEFAULT_BANDS: Final = "gray"

#: Training keeps chips already converted to grayscale at the input side, up to this many MB (every chip of
#: 128 granule-years at 64 px, of 4 at 343 px); chips beyond it are read and converted again per batch.
GRAY_CACHE_MB: Final = 512
#: Source pixels read and converted together: one 343 px chip, 8 of 128 px, 27 of 69 px. Small chunks
#: convert fastest (bench: 1.2 ms a 343 px chip one at a time, 3.5 ms in chunks of 32) and bound the float32
#: copy of a batch.
CONVERT_PIXELS: Final = 2 ** 17

#: Default layer of NASA Black Marble VNP46A4 files.
VNP46A4_DEFAULT_LAYER: Final = "NearNadir_Composite_Snow_Free"

#: Environment variable naming the folder of STAC extension schemas used when none is given, and its layout.
SCHEMAS_ENV: Final = "DEVSCORE_STAC_SCHEMAS"
SCHEMA_LAYOUT: Final = "<extension>/<version>/schema.json"

#: The same chips table as FlatGeobuf, for GIS without a Parquet driver (QGIS 3.22 / GDAL 3.6 of Debian 12).
CHIPS_FLATGEOBUF_ASSET: Final = "chips_flatgeobuf"
