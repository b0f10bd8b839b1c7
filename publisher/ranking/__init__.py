"""Stages 1 and 2 of the method: chip categories and clusters, VLM scores, POGs and their aggregation."""
