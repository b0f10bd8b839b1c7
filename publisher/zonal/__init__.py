"""Figures per place: area-weighted chip scores over user polygons (zones), per year."""
