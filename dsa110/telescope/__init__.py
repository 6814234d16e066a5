"""The DSA-110 telescope model: antennas, site, frequency plan, primary beam, time.

Importing this package configures astropy for offline Earth orientation
(:func:`dsa110.telescope.time.configure_offline_iers`).
"""

from dsa110.telescope.antennas import (
    ACTIVE_ANTENNAS,
    ACTIVE_EW,
    ACTIVE_NS,
    ACTIVE_OUTRIGGERS,
    DISH_DIAMETER_M,
    N_STATIONS,
    SITE_NAME,
    AntennaTable,
    Site,
    antenna_table,
    default_site,
    ecef_to_enu,
    read_station_csv,
)
from dsa110.telescope.beam import SPEED_OF_LIGHT, airy_beam, beam_fwhm
from dsa110.telescope.frequencies import (
    CHANNEL_WIDTH_HZ,
    N_CHAN_PER_SUBBAND,
    N_SUBBANDS,
    channel_width,
    group_frequencies,
    subband_frequencies,
    subband_of_frequency,
)
from dsa110.telescope.time import as_time, configure_offline_iers

configure_offline_iers()

__all__ = [
    "ACTIVE_ANTENNAS",
    "ACTIVE_EW",
    "ACTIVE_NS",
    "ACTIVE_OUTRIGGERS",
    "CHANNEL_WIDTH_HZ",
    "DISH_DIAMETER_M",
    "N_CHAN_PER_SUBBAND",
    "N_STATIONS",
    "N_SUBBANDS",
    "SITE_NAME",
    "SPEED_OF_LIGHT",
    "AntennaTable",
    "Site",
    "airy_beam",
    "antenna_table",
    "as_time",
    "beam_fwhm",
    "channel_width",
    "configure_offline_iers",
    "default_site",
    "ecef_to_enu",
    "group_frequencies",
    "read_station_csv",
    "subband_frequencies",
    "subband_of_frequency",
]
