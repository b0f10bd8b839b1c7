"""Ranking: chip categories, clusters, VLM partial order graphs of clusters and their aggregation."""
