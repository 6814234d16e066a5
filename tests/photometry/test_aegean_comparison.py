"""Side-by-side with AegeanTools on the same simulated image (optional dependency)."""

import numpy as np
import pytest

pytest.importorskip("AegeanTools")

from dsa110.catalogs.crossmatch import crossmatch  # noqa: E402
from dsa110.photometry.finding import find_sources  # noqa: E402
from dsa110.photometry.image import write_image  # noqa: E402
from dsa110.photometry.simulate import simulate_image  # noqa: E402
from tests.photometry.conftest import BEAM, CELL, CENTRE, RMS, random_positions  # noqa: E402


@pytest.mark.slow
def test_same_detections_as_aegean(tmp_path):
    import logging

    from AegeanTools.source_finder import SourceFinder

    rng = np.random.default_rng(31)
    ra, dec = random_positions(30, (300, 300), rng, margin=15, min_sep_pix=15)
    flux = RMS * 10 ** rng.uniform(np.log10(8), np.log10(200), 30)
    img = simulate_image(
        (300, 300),
        beam=BEAM,
        ra=ra,
        dec=dec,
        flux=flux,
        rms=RMS,
        cell_arcsec=CELL,
        centre=CENTRE,
        rng=rng,
    )
    write_image(img, tmp_path / "img.fits")
    ours = find_sources(img)
    log = logging.getLogger("Aegean")
    log.setLevel(logging.ERROR)
    theirs = SourceFinder(log=log).find_sources_in_image(
        str(tmp_path / "img.fits"), innerclip=5, outerclip=3, cores=1, progress=False
    )
    a = np.array([(s.ra, s.dec, s.peak_flux) for s in theirs])
    idx, sep = crossmatch(
        ours["ra"].to_numpy(),
        ours["dec"].to_numpy(),
        a[:, 0],
        a[:, 1],
        radius_arcsec=3.0,
    )
    # all sources are ≥ 8σ and isolated: both finders detect all of them ...
    assert len(ours) == len(theirs) == 30
    assert (idx >= 0).all()
    # ... at positions that agree far inside the beam, with peak fluxes within ~3σ
    assert np.max(sep) < 0.1 * BEAM.bmin * 3600
    diff = (ours["peak_flux"].to_numpy() - a[idx, 2]) / ours["peak_flux_err"].to_numpy()
    assert np.all(np.abs(diff) < 3)
