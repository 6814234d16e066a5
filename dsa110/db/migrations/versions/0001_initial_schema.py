"""Initial schema: observations, products, calibration, sources, candidates, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 08:27:07.155433
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "calibration_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("calibrator", sa.String(length=64), nullable=False),
        sa.Column("reference_time", sa.DateTime(), nullable=False),
        sa.Column("valid_start", sa.DateTime(), nullable=False),
        sa.Column("valid_end", sa.DateTime(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("qa_passed", sa.Boolean(), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("calibration_sets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calibration_sets_window", ["valid_start", "valid_end"], unique=False
        )

    op.create_table(
        "locks",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("end_time", sa.DateTime(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=True),
        sa.Column("n_files", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id"),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observations_dec_deg"), ["dec_deg"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_observations_start_time"), ["start_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_observations_status"), ["status"], unique=False
        )

    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("catalog", sa.String(length=32), nullable=True),
        sa.Column("reference_flux_jy", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sources_dec_deg"), ["dec_deg"], unique=False
        )

    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("time_start", sa.DateTime(), nullable=False),
        sa.Column("time_end", sa.DateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_candidates_detected_at"), ["detected_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_candidates_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_candidates_source_id"), ["source_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_candidates_status"), ["status"], unique=False
        )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log", sa.Text(), nullable=True),
        sa.Column("runner_key", sa.String(length=128), nullable=True),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["observation_id"], ["observations.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_observation_id"), ["observation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_jobs_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_jobs_submitted_at"), ["submitted_at"], unique=False
        )

    op.create_table(
        "observation_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("subband", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["observation_id"], ["observations.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("observation_id", "subband"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("observation_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observation_files_observation_id"),
            ["observation_id"],
            unique=False,
        )

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.Column("calibration_set_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["calibration_set_id"], ["calibration_sets.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"], ["observations.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_calibration_set_id"),
            ["calibration_set_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_products_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_products_observation_id"), ["observation_id"], unique=False
        )

    op.create_table(
        "variability_stats",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("n_measurements", sa.Integer(), nullable=False),
        sa.Column("mean_flux_jy", sa.Float(), nullable=False),
        sa.Column("std_flux_jy", sa.Float(), nullable=False),
        sa.Column("modulation_index", sa.Float(), nullable=False),
        sa.Column("eta", sa.Float(), nullable=False),
        sa.Column("chi2_reduced", sa.Float(), nullable=False),
        sa.Column("max_deviation_sigma", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("obs_time", sa.DateTime(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("radius_deg", sa.Float(), nullable=False),
        sa.Column("n_x", sa.Integer(), nullable=False),
        sa.Column("n_y", sa.Integer(), nullable=False),
        sa.Column("cell_arcsec", sa.Float(), nullable=False),
        sa.Column("frequency_hz", sa.Float(), nullable=False),
        sa.Column("bandwidth_hz", sa.Float(), nullable=False),
        sa.Column("rms_jy", sa.Float(), nullable=True),
        sa.Column("beam_major_arcsec", sa.Float(), nullable=True),
        sa.Column("beam_minor_arcsec", sa.Float(), nullable=True),
        sa.Column("beam_pa_deg", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["observation_id"], ["observations.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id"),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_images_dec_deg"), ["dec_deg"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_images_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_images_obs_time"), ["obs_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_images_observation_id"), ["observation_id"], unique=False
        )

    op.create_table(
        "provenance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id"),
    )
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("snr", sa.Float(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_measurements_image_id"), ["image_id"], unique=False
        )
        batch_op.create_index(
            "ix_measurements_source_time", ["source_id", "time"], unique=False
        )

    op.create_table(
        "mosaic_members",
        sa.Column("mosaic_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mosaic_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mosaic_id", "image_id"),
    )
    op.create_table(
        "provenance_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provenance_id", sa.Integer(), nullable=False),
        sa.Column("input_product_id", sa.Integer(), nullable=True),
        sa.Column("input_file_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["input_file_id"], ["observation_files.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["input_product_id"], ["products.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["provenance_id"], ["provenance.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("provenance_inputs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provenance_inputs_provenance_id"),
            ["provenance_id"],
            unique=False,
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("provenance_inputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provenance_inputs_provenance_id"))

    op.drop_table("provenance_inputs")
    op.drop_table("mosaic_members")
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index("ix_measurements_source_time")
        batch_op.drop_index(batch_op.f("ix_measurements_image_id"))

    op.drop_table("measurements")
    op.drop_table("provenance")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_observation_id"))
        batch_op.drop_index(batch_op.f("ix_images_obs_time"))
        batch_op.drop_index(batch_op.f("ix_images_kind"))
        batch_op.drop_index(batch_op.f("ix_images_dec_deg"))

    op.drop_table("images")
    op.drop_table("variability_stats")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_observation_id"))
        batch_op.drop_index(batch_op.f("ix_products_kind"))
        batch_op.drop_index(batch_op.f("ix_products_calibration_set_id"))

    op.drop_table("products")
    with op.batch_alter_table("observation_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observation_files_observation_id"))

    op.drop_table("observation_files")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_submitted_at"))
        batch_op.drop_index(batch_op.f("ix_jobs_state"))
        batch_op.drop_index(batch_op.f("ix_jobs_observation_id"))

    op.drop_table("jobs")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidates_status"))
        batch_op.drop_index(batch_op.f("ix_candidates_source_id"))
        batch_op.drop_index(batch_op.f("ix_candidates_kind"))
        batch_op.drop_index(batch_op.f("ix_candidates_detected_at"))

    op.drop_table("candidates")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_dec_deg"))

    op.drop_table("sources")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observations_status"))
        batch_op.drop_index(batch_op.f("ix_observations_start_time"))
        batch_op.drop_index(batch_op.f("ix_observations_dec_deg"))

    op.drop_table("observations")
    op.drop_table("locks")
    with op.batch_alter_table("calibration_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_calibration_sets_window")

    op.drop_table("calibration_sets")
