"""The `storage:` section of the config file: where ClickHouse is."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StorageSpec(BaseModel):
    """Embedded chDB under `data_dir` unless `clickhouse_url` names a ClickHouse server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("var/clickhouse")
    clickhouse_url: str | None = None
    # Name of the environment variable holding the server password (the URL may not hold one).
    password_env: str | None = None
    database: str = "agentslo"
    # A ClickHouse cluster (its name in the server's remote_servers): the migrations create
    # sharded and replicated tables on it, ON CLUSTER (ground/storage/_cluster.py).
    cluster: str | None = None

    @field_validator("clickhouse_url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. http://user@host:8123/agentslo")
        try:
            parts.port
        except ValueError as exc:
            raise ValueError(f"has an invalid port: {exc}") from None
        # Wherever the URL comes from: a flag is visible to every user of the machine in `ps`,
        # and a file or an environment is copied around more than a secret should be.
        if parts.password is not None:
            raise ValueError("must not contain a password; name the variable that holds it in storage.password_env")
        database = parts.path.strip("/")
        if database and not _IDENTIFIER.match(database):
            raise ValueError(f"path must name a database (a plain identifier), got {parts.path!r}")
        return url

    @property
    def server_database(self) -> str:
        """The database on the server: the URL's path when it names one, else `database`."""
        path = urlsplit(self.clickhouse_url or "").path.strip("/")
        return path or self.database

    @field_validator("database")
    @classmethod
    def _check_database(cls, name: str) -> str:
        if not _IDENTIFIER.match(name):
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        return name

    @field_validator("cluster")
    @classmethod
    def _check_cluster(cls, name: str | None) -> str | None:
        if name is not None and not _IDENTIFIER.match(name):
            raise ValueError("must be a cluster's name (letters, digits, underscore)")
        return name

    @model_validator(mode="after")
    def _cluster_on_a_server(self) -> StorageSpec:
        if self.cluster is not None and self.clickhouse_url is None:
            raise ValueError("cluster needs a ClickHouse server: set clickhouse_url too")
        return self

    @field_validator("password_env")
    @classmethod
    def _check_env_name(cls, name: str | None) -> str | None:
        if name is not None and not _IDENTIFIER.match(name):
            raise ValueError("must be the name of an environment variable, not its value")
        return name
