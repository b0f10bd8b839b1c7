"""devscore publisher: chip scores of Sentinel-2 granule-years to COGs and STAC Items."""

__version__ = "0.1.0"
