"""dsa110.variability."""
