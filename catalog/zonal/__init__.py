"""Zonal statistics over the published score layers: `devscore zonal` and the `devscore-zonal` collection."""
