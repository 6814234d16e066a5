"""The image stage's CLEAN settings; a calibrator tile subtracts its calibrator,
or CLEANs it with more terms and one cycle deeper."""

import pytest

CAL = object()  # stands for the Calibrator a tile was solved on
OUT = object()  # a survey source beyond the image's edge


@pytest.mark.parametrize(
    "calibrator, subtract_calibrator",
    [(False, True), (True, True), (CAL, True), (CAL, False)],
)
def test_calibrator_tile_gets_its_terms_and_extra_major_cycles(
    tmp_path, make_config, monkeypatch, calibrator, subtract_calibrator
):
    import dsa110.imaging.fits
    import dsa110.imaging.modes
    from dsa110.pipeline.stages import image_tile_products, imaging_threads

    config = make_config(
        tmp_path / "data",
        "imaging.major_cycles=2",
        "imaging.nterms=1",
        "imaging.calibrator_nterms=3",
        "imaging.calibrator_extra_major_cycles=2",
        f"imaging.subtract_calibrator={str(subtract_calibrator).lower()}",
    )
    seen = {}

    def fake_image_tile(ds, **kwargs):
        seen.update(kwargs)
        return "products"

    monkeypatch.setattr(dsa110.imaging.modes, "image_tile", fake_image_tile)
    monkeypatch.setattr(
        dsa110.imaging.fits, "write_products", lambda products, prefix, **kw: {}
    )
    products, files = image_tile_products(
        None, config, tmp_path / "tile", calibrator=calibrator
    )
    assert products == "products"
    # the calibrator itself given: subtracted and restored, CLEAN as on any tile;
    # only "a calibrator tile" (True) or subtraction off: CLEAN models it
    subtracted = calibrator is CAL and subtract_calibrator
    assert seen["subtract"] == ([CAL] if subtracted else None)
    cleaned = bool(calibrator) and not subtracted
    assert seen["nterms"] == (3 if cleaned else 1)
    assert seen["max_major"] == (4 if cleaned else 2)
    assert seen["niter"] == config.imaging.niter
    assert seen["nthreads"] == imaging_threads(config)
    # sources beyond the image's edge are subtracted too, and change nothing else
    seen.clear()
    image_tile_products(
        None, config, tmp_path / "tile", calibrator=calibrator, outliers=[OUT]
    )
    assert seen["subtract"] == ([CAL] if subtracted else []) + [OUT]
    assert seen["nterms"] == (3 if cleaned else 1)
    assert seen["max_major"] == (4 if cleaned else 2)


def test_imaging_threads_from_config_process_or_dask_worker(tmp_path, make_config):
    import os

    from distributed import Client, LocalCluster

    from dsa110.pipeline.stages import imaging_threads

    assert imaging_threads(make_config(tmp_path, "imaging.threads=3")) == 3
    config = make_config(tmp_path)
    assert imaging_threads(config) == os.cpu_count()
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=3, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        assert client.submit(imaging_threads, config).result() == 3
