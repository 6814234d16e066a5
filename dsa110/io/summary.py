"""A human-readable summary of an observation, from metadata and flags only."""

from __future__ import annotations

import numpy as np

__all__ = ["summarize"]


def summarize(ds, *, flags: bool = True) -> str:
    """Describe a visibility dataset: times, pointing, antennas, subbands, flags.

    Reads no visibilities; with ``flags=True`` it computes the flag fraction per
    subband (the ``FLAG`` variable only).

    Parameters
    ----------
    ds : xarray.Dataset
        A dataset following :mod:`dsa110.schema`.
    flags : bool, keyword-only
        Also report flag fractions.

    Returns
    -------
    str
    """
    from astropy.coordinates import Angle
    from astropy.time import Time
    from astropy import units as u

    t = ds["time"].values
    tt = Time(t, format="unix", scale="utc")
    lines = []
    files = ds.attrs.get("source_files", [])
    if files:
        lines.append(
            f"files           : {len(files)} ({files[0]} ...)"
            if len(files) > 1
            else f"file            : {files[0]}"
        )
    lines.append(
        f"telescope       : {ds.attrs.get('telescope_name', '?')} ({ds.attrs.get('instrument', '')})"
    )
    dt = float(np.median(ds["integration_time"].values))
    lines.append(
        f"time (UTC)      : {tt[0].isot} → {tt[-1].isot}  ({t.size} integrations of {dt:.3f} s)"
    )
    lines.append(f"pointing dec    : {np.degrees(ds.attrs['pointing_dec']):+.4f} deg")
    ra = ds["phase_center_ra"].values
    dec = ds["phase_center_dec"].values
    lines.append(
        f"phase centres   : {ds.attrs.get('phase_center_type')}; ICRS "
        f"{Angle(ra[0] * u.rad).to_string(u.hourangle, sep=':', precision=1)} "
        f"{Angle(dec[0] * u.rad).to_string(u.deg, sep=':', precision=0, alwayssign=True)}"
        + (
            f" → {Angle(ra[-1] * u.rad).to_string(u.hourangle, sep=':', precision=1)}"
            if t.size > 1
            else ""
        )
    )
    a1 = ds["antenna1"].values
    a2 = ds["antenna2"].values
    ants = np.unique(np.concatenate([a1, a2]))
    n_auto = int(np.sum(a1 == a2))
    lines.append(
        f"antennas        : {ants.size} with data of {ds.sizes['antenna_name']} "
        f"({ds.sizes['baseline_id']} baselines, {n_auto} autocorrelations)"
    )
    f = ds["frequency"].values
    lines.append(
        f"frequency       : {f[0] / 1e6:.4f} → {f[-1] / 1e6:.4f} MHz, {f.size} channels "
        f"of {float(ds['channel_width'].values[0]) / 1e3:.3f} kHz"
    )
    lines.append(f"polarizations   : {', '.join(ds['polarization'].values.tolist())}")
    if "subband" in ds.coords:
        lines.append(f"subbands        : {ds.attrs.get('subbands', [])}")
        miss = list(ds.attrs.get("missing_subbands", [])) + list(
            ds.attrs.get("skipped_subbands", [])
        )
        lines.append(f"missing         : {miss if miss else 'none'}")
    if flags:
        frac = ds["FLAG"].mean(dim=("time", "baseline_id", "polarization"))
        if "subband" in ds.coords:
            per_sb = frac.groupby("subband").mean().compute()
            cells = [
                f"sb{int(s):02d} {float(v):.1%}"
                for s, v in zip(per_sb["subband"].values, per_sb.values)
            ]
            lines.append(f"flagged         : {float(frac.mean()):.2%} overall")
            lines.append("  per subband   : " + ", ".join(cells))
        else:
            lines.append(f"flagged         : {float(frac.mean()):.2%}")
    return "\n".join(lines)
