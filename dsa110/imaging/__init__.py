"""dsa110.imaging."""
