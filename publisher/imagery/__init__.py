"""Imagery in: the synthetic Sentinel-2 region (truth, scenes, night lights) and its source catalog."""
