"""Build the example notebooks from the cells below (run: python notebooks/_build.py).

The notebooks are committed; this script keeps their source reviewable as code.
"""

from pathlib import Path

import nbformat

HERE = Path(__file__).parent


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text):
    return nbformat.v4.new_code_cell(text.strip())


QUICKSTART = [
    md("""
# dsa110 quickstart

Simulate a DSA-110 calibrator tile and a target tile, open them lazily, look at the
visibilities and flags, flag RFI, solve and apply calibration, image, and measure.
Everything here runs on a laptop in about a minute (the `small` simulation preset).
"""),
    code("""
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dsa110
from dsa110.pipeline.demo import simulate_demo_night

work = Path(tempfile.mkdtemp(prefix="dsa110-quickstart-"))
sky = simulate_demo_night(work / "raw", n_days=1)
groups = dsa110.find_groups(work / "raw")
groups
"""),
    md(
        "## Open a group lazily\nOnly the headers are read; the data stay on disk as dask arrays, one chunk per file × subband."
    ),
    code("""
cal_ds = dsa110.open_observation(groups[0])
cal_ds
"""),
    code("""
from dsa110.io.summary import summarize

print(summarize(cal_ds))
"""),
    md("## Visibilities and flags"),
    code("""
cross = (cal_ds.antenna1 != cal_ds.antenna2)
amp = np.abs(cal_ds.VISIBILITY.sel(polarization="XX").isel(baseline_id=np.flatnonzero(cross.values)[:1]))
fig, ax = plt.subplots(figsize=(7, 3))
amp.squeeze().plot(ax=ax, x="frequency", y="time")
ax.set_title("|V| of one baseline (XX)");
"""),
    code("""
from dsa110.flagging import flag_fractions, flag_rfi

flagged = flag_rfi(cal_ds)
fractions = flag_fractions(flagged)
fractions
"""),
    md(
        "## Calibrate on the calibrator's transit\nThe tile holds 3C48's meridian transit; rephase to it and solve for bandpass and gains."
    ),
    code("""
from dsa110.calibration import apply_calibration, solve_calibration
from dsa110.catalogs import best_calibrator, find_transit

cal = best_calibrator(cal_ds.attrs["pointing_dec"])
print(cal.alt_name, find_transit(cal, cal_ds.time.values))
solutions = solve_calibration(dsa110.rephase(flagged, (cal.ra, cal.dec)), cal)
solutions.BANDPASS.sel(polarization="XX").isel(antenna=np.flatnonzero(solutions.QA_FLAG_FRACTION.values < 1)[:4]).pipe(np.abs).plot.line(x="frequency");
"""),
    md(
        "## Image the target tile\nApply the solutions, rephase every integration to the tile's median meridian, CLEAN and correct for the primary beam."
    ),
    code("""
from dsa110.imaging.imager import ImageGeometry
from dsa110.imaging.modes import image_tile

target = apply_calibration(flag_rfi(dsa110.open_observation(groups[1])), solutions)
products = image_tile(target.chunk({"frequency": -1}), geometry=ImageGeometry(512, 6.0, 1e-4, True), niter=200, max_major=2)
fig, ax = plt.subplots(figsize=(5, 5))
ax.imshow(products.pbcor.T, origin="lower", cmap="inferno")
ax.set_title(f"target tile, beam {products.beam.bmaj:.0f}\\" × {products.beam.bmin:.0f}\\"");
"""),
    md(
        "## Measure catalog sources\nForced photometry (Condon matched filter) at the reference catalog's positions."
    ),
    code("""
from dsa110.imaging.fits import write_products
from dsa110.photometry import forced_photometry, read_image

files = write_products(products, work / "target", png=False)
image = read_image(files["image-pb"])
bright = sky.catalog[sky.catalog.flux_int > 0.2]
forced = forced_photometry(image, bright.ra.to_numpy(), bright.dec.to_numpy())
forced.assign(name=bright.name.to_numpy(), catalog_flux=bright.flux_int.to_numpy())[["name", "catalog_flux", "flux", "flux_err", "snr"]]
"""),
]

LIGHTCURVES = [
    md("""
# Light curves and variability

Simulated measurements of thousands of sources over 150 epochs (thermal noise, a
per-epoch calibration error, ESE-like dips, spikes and single-epoch outliers) go
through the incremental variability store: normalisation, metrics, candidates.
"""),
    code("""
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from dsa110.variability import SimulationConfig, VariabilityStore, plot_lightcurve, simulate_measurements

table, truth, epoch_gains = simulate_measurements(SimulationConfig(n_sources=500), rng=np.random.default_rng(3))
table.head()
"""),
    code("""
store = VariabilityStore(tempfile.mkdtemp(prefix="dsa110-lc-"))
for image_id, rows in table.groupby("image_id", sort=False):
    store.update(rows)
metrics = store.metrics()
metrics.describe()
"""),
    code("""
fig, ax = plt.subplots(figsize=(5, 4))
ax.loglog(metrics.eta.clip(1e-2), metrics.v.abs().clip(1e-3), ".", ms=3)
ax.set_xlabel("η"); ax.set_ylabel("V");
"""),
    code("""
candidates = store.candidates(preset="moderate")
# Each candidate with its injected truth (dip, spike, outlier or none).
candidates[["score", "sigma_dev", "chi2_nu", "eta", "label"]].join(truth.set_index("source_id")["event"]).head(10)
"""),
    code("""
best = candidates.index[0]
path = plot_lightcurve(store.lightcurve(best), tempfile.mktemp(suffix=".png"))
from IPython.display import Image
Image(filename=str(path))
"""),
]


def write(name, cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("quickstart.ipynb", QUICKSTART)
    write("lightcurves.ipynb", LIGHTCURVES)
