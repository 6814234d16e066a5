"""Sources, their measurements (light curves) and variability statistics."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from dsa110.db.models import Measurement, Source, VariabilityStat, utcnow
from dsa110.db.repositories._common import (
    NotFoundError,
    Page,
    angular_separation_deg,
    as_utc,
    dec_box,
    paginate,
)

__all__ = ["SourceRepository"]


class SourceRepository:
    """Sources, cone searches, light curves and variability statistics.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def add(
        self,
        name: str,
        *,
        ra_deg: float,
        dec_deg: float,
        catalog: str | None = None,
        reference_flux_jy: float | None = None,
    ) -> Source:
        """Record a source and return it."""
        source = Source(
            name=name,
            ra_deg=float(ra_deg) % 360.0,
            dec_deg=float(dec_deg),
            catalog=catalog,
            reference_flux_jy=reference_flux_jy,
        )
        self.session.add(source)
        self.session.flush()
        return source

    def add_many(self, rows: Iterable[dict]) -> list[int]:
        """Insert many sources in one statement; return their ids in input order.

        Parameters
        ----------
        rows : iterable of dict
            Each with ``name``, ``ra_deg``, ``dec_deg`` and optionally
            ``catalog``, ``reference_flux_jy``.
        """
        values = []
        for row in rows:
            row = dict(row)
            row["ra_deg"] = float(row["ra_deg"]) % 360.0
            row["dec_deg"] = float(row["dec_deg"])
            values.append(row)
        if not values:
            return []
        result = self.session.scalars(
            insert(Source).returning(Source.id, sort_by_parameter_order=True), values
        )
        return list(result)

    def ensure(self, rows: Iterable[dict]) -> dict[str, int]:
        """Record the sources not yet known by name; return every name's id.

        Safe when several writers (tiles processed in parallel, a retried
        tile) create the same catalogue source at once: the insert is
        ``ON CONFLICT (name) DO NOTHING`` (SQLite and PostgreSQL, the two
        databases the package runs on). An existing source keeps its position
        and catalogue.

        Parameters
        ----------
        rows : iterable of dict
            As for :meth:`add_many`; a name repeated in ``rows`` is created
            once, from its first row.

        Returns
        -------
        dict of str to int
            The id of every name in ``rows``.
        """
        values = {}
        for row in rows:
            row = dict(row)
            if row["name"] in values:
                continue
            row["ra_deg"] = float(row["ra_deg"]) % 360.0
            row["dec_deg"] = float(row["dec_deg"])
            values[row["name"]] = row
        if not values:
            return {}
        names = list(values)
        ids = self._ids_by_name(names)
        # Inserted in name order: concurrent writers of overlapping names then
        # take the unique index's row locks in one order, so PostgreSQL makes
        # one wait for the other instead of finding a deadlock (seen in CI
        # with the rows in each writer's own order).
        missing = [values[name] for name in sorted(names) if name not in ids]
        if missing:
            dialect = self.session.get_bind().dialect.name
            module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
            if module is None:
                raise NotImplementedError(
                    f"SourceRepository.ensure runs on SQLite and PostgreSQL, "
                    f"not {dialect}"
                )
            stmt = module.insert(Source).on_conflict_do_nothing(
                index_elements=[Source.name]
            )
            self.session.execute(stmt, missing)
            ids.update(self._ids_by_name([row["name"] for row in missing]))
        return {name: ids[name] for name in names}

    def _ids_by_name(self, names: list[str], batch: int = 500) -> dict[str, int]:
        """Ids of the named sources that exist (queried in batches of ``batch``)."""
        ids = {}
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            rows = self.session.execute(
                select(Source.name, Source.id).where(Source.name.in_(chunk))
            )
            ids.update((name, source_id) for name, source_id in rows)
        return ids

    def get(self, source_id: int) -> Source:
        """Return one source with its variability statistics."""
        source = self.session.scalar(
            select(Source)
            .where(Source.id == source_id)
            .options(selectinload(Source.variability))
        )
        if source is None:
            raise NotFoundError("source", source_id)
        return source

    def list(
        self,
        *,
        name: str | None = None,
        dec_min: float | None = None,
        dec_max: float | None = None,
        min_eta: float | None = None,
        min_modulation_index: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """List sources (optionally only variable ones), by name."""
        stmt = select(Source).options(selectinload(Source.variability))
        if name is not None:
            stmt = stmt.where(Source.name == name)
        if dec_min is not None:
            stmt = stmt.where(Source.dec_deg >= dec_min)
        if dec_max is not None:
            stmt = stmt.where(Source.dec_deg <= dec_max)
        if min_eta is not None or min_modulation_index is not None:
            stmt = stmt.join(VariabilityStat, VariabilityStat.source_id == Source.id)
            if min_eta is not None:
                stmt = stmt.where(VariabilityStat.eta >= min_eta)
            if min_modulation_index is not None:
                stmt = stmt.where(
                    VariabilityStat.modulation_index >= min_modulation_index
                )
        stmt = stmt.order_by(Source.name, Source.id)
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def cone_search(
        self, ra_deg: float, dec_deg: float, radius_deg: float, *, limit: int = 1000
    ) -> list[tuple[Source, float]]:
        """Return sources within ``radius_deg`` of a position, nearest first.

        Returns
        -------
        list of (Source, float)
            Each source and its separation in degrees; at most ``limit``.
        """
        lo, hi = dec_box(dec_deg, radius_deg)
        stmt = select(Source).where(Source.dec_deg.between(lo, hi))
        hits = []
        for source in self.session.scalars(stmt):
            sep = angular_separation_deg(ra_deg, dec_deg, source.ra_deg, source.dec_deg)
            if sep <= radius_deg:
                hits.append((source, sep))
        hits.sort(key=lambda item: (item[1], item[0].id))
        return hits[:limit]

    def add_measurements(self, source_id: int | None, rows: Iterable[dict]) -> int:
        """Bulk-insert measurements (one ``executemany``, no ORM objects).

        Parameters
        ----------
        source_id : int or None
            The source of every row; ``None`` when each row carries its own
            ``source_id`` (e.g. all sources measured in one image).
        rows : iterable of dict
            Each with ``time``, ``flux_jy``, ``flux_err_jy`` and optionally
            ``source_id``, ``image_id``, ``forced``, ``snr``, ``flagged``.

        Returns
        -------
        int
            Number of rows inserted.
        """
        values = []
        for row in rows:
            row = {
                "forced": True,
                "flagged": False,
                "snr": None,
                "image_id": None,
                **row,
            }
            row["time"] = as_utc(row["time"])
            if source_id is not None:
                row["source_id"] = source_id
            values.append(row)
        if values:
            self.session.execute(insert(Measurement), values)
        return len(values)

    def light_curve(
        self,
        source_id: int,
        *,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        include_flagged: bool = False,
        limit: int = 100_000,
    ) -> list[Measurement]:
        """Return a source's measurements in time order (at most ``limit``)."""
        self.get(source_id)
        stmt = select(Measurement).where(Measurement.source_id == source_id)
        if start is not None:
            stmt = stmt.where(Measurement.time >= as_utc(start))
        if end is not None:
            stmt = stmt.where(Measurement.time <= as_utc(end))
        if not include_flagged:
            stmt = stmt.where(Measurement.flagged.is_(False))
        stmt = stmt.order_by(Measurement.time, Measurement.id).limit(limit)
        return list(self.session.scalars(stmt))

    def set_variability(self, source_id: int, **stats) -> VariabilityStat:
        """Insert or replace a source's variability statistics.

        Parameters
        ----------
        source_id : int
            The source.
        **stats
            ``n_measurements``, ``mean_flux_jy``, ``std_flux_jy``,
            ``modulation_index``, ``eta``, ``chi2_reduced``, ``max_deviation_sigma``.
        """
        source = self.get(source_id)
        row = self.session.get(VariabilityStat, source_id)
        if row is None:
            row = VariabilityStat(**stats)
            source.variability = row
        else:
            for key, value in stats.items():
                setattr(row, key, value)
        row.updated_at = utcnow()
        self.session.flush()
        return row
