"""VIIRS night lights beside the scores: product readers (EOG VNL GeoTIFF, Black Marble VNP46A4 HDF5),
per-granule clips as COGs and STAC Items, chip aggregation, correlations and report figures."""
