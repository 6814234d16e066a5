"""dsa110.calibration."""
