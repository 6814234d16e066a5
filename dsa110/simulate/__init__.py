"""dsa110.simulate."""
