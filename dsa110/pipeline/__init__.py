"""dsa110.pipeline."""
