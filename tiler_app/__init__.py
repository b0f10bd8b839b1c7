"""devscore tiler_app: the catalog's score layers as XYZ/WMTS tiles, per item and per year."""
