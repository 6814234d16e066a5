"""dsa110.photometry."""
