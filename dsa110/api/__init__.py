"""dsa110.api."""
