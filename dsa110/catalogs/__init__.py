"""dsa110.catalogs."""
