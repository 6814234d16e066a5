"""The ``dsa110`` REST service (FastAPI): observations, images, sources, jobs.

Examples
--------
>>> from dsa110.api import Settings, create_app
>>> app = create_app(Settings(data_dir="/data/dsa110"))  # doctest: +SKIP
"""

from dsa110.api.app import API_PREFIX, create_app, openapi_document
from dsa110.api.errors import APIError
from dsa110.api.runner import DaskJobRunner, JobRunner, UnconfiguredJobRunner
from dsa110.api.security import API_KEY_HEADER, hash_api_key
from dsa110.api.settings import Settings

__all__ = [
    "API_KEY_HEADER",
    "API_PREFIX",
    "APIError",
    "DaskJobRunner",
    "JobRunner",
    "Settings",
    "UnconfiguredJobRunner",
    "create_app",
    "hash_api_key",
    "openapi_document",
]
