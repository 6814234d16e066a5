"""The image stage's CLEAN settings; a calibrator tile goes one cycle deeper."""

import pytest


@pytest.mark.parametrize("calibrator", [False, True])
def test_calibrator_tile_gets_its_terms_and_extra_major_cycles(
    tmp_path, make_config, monkeypatch, calibrator
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
    assert seen["nterms"] == (3 if calibrator else 1)
    assert seen["max_major"] == (4 if calibrator else 2)
    assert seen["niter"] == config.imaging.niter
    assert seen["nthreads"] == imaging_threads(config)


def test_imaging_threads_from_config_process_or_dask_worker(tmp_path, make_config):
    import os

    from distributed import Client, LocalCluster

    from dsa110.pipeline.stages import imaging_threads

    assert imaging_threads(make_config(tmp_path, "imaging.threads=3")) == 3
    config = make_config(tmp_path)
    assert imaging_threads(config) == os.cpu_count()
    with LocalCluster(
        n_workers=1, threads_per_worker=3, processes=False, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        assert client.submit(imaging_threads, config).result() == 3
