"""PostgreSQL from Debian's packages: a cluster in the run folder, one database and role per service."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from .layout import SERVICES, Layout
from .processes import alive, read_pid


@dataclass
class PostgresServer:
    """The PostgreSQL cluster in the run folder (or the server `pg_url` names)."""

    layout: Layout

    @property
    def data(self) -> Path:
        return self.layout.run / "pg"

    def _as_postgres(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _pg_bin(self, name: str) -> str:
        for version_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (version_dir / name).exists():
                return str(version_dir / name)
        found = shutil.which(name)
        if not found:
            raise RuntimeError(f"{name} not found: install PostgreSQL (make up does)")
        return found

    def start(self) -> None:
        if self.layout.pg_url:
            return
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists() and alive(read_pid(pid_file)):
            return
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
            # Trust on loopback only: a development database that nobody else can reach.
            subprocess.run(self._as_postgres([self._pg_bin("initdb"), "-D", str(self.data), "-U", "crm",
                                              "-A", "trust", "-E", "UTF8", "--no-instructions"]),
                           check=True, capture_output=True)
        log_file = self.layout.logs / "postgres.log"
        if not log_file.exists():
            log_file.touch()
        if os.geteuid() == 0:
            shutil.chown(log_file, "postgres", "postgres")
        opts = (f"-p {self.layout.pg_port} -c listen_addresses=127.0.0.1 -k {self.data} "
                "-c max_connections=300 -c fsync=on "
                # Time per statement, for the bench's statement profiles (crm_devstack.bench.profiles).
                "-c shared_preload_libraries=pg_stat_statements")
        subprocess.run(self._as_postgres([self._pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts,
                                          "-l", str(log_file), "-w", "start"]), check=True,
                       capture_output=True)

    async def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.layout.admin_url, timeout=3)
                await conn.close()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL at {self.layout.admin_url} did not answer: {exc!r}") from exc
                await asyncio.sleep(0.3)

    async def create_databases(self) -> list[str]:
        """A database per service, owned by a role of the service's own (no superuser, no other
        database): `crm_<service>` for both. The other services' roles cannot connect to it."""
        conn = await asyncpg.connect(self.layout.admin_url)
        created = []
        try:
            have = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
            for service in SERVICES:
                name = f"crm_{service}"
                if not self.layout.pg_url and name not in roles:
                    await conn.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
                if name not in have:
                    owner = "" if self.layout.pg_url else f' OWNER "{name}"'
                    await conn.execute(f'CREATE DATABASE "{name}"{owner}')
                    created.append(name)
                if not self.layout.pg_url:
                    await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
                    await self._hand_over(name)
        finally:
            await conn.close()
        return created

    async def _hand_over(self, name: str) -> None:
        """A database made before roles existed: the role takes it and everything in it over."""
        conn = await asyncpg.connect(f"{self.layout.admin_url.rsplit('/', 1)[0]}/{name}")
        try:
            if await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name) == name:
                return
            await conn.execute(f'ALTER DATABASE "{name}" OWNER TO "{name}"')
            for kind, objects in (("TABLE", "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
                                  ("SEQUENCE", "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")):
                for r in await conn.fetch(objects):
                    await conn.execute(f'ALTER {kind} public."{r[0]}" OWNER TO "{name}"')
        finally:
            await conn.close()

    def stop(self, *, kill: bool = False) -> bool:
        """Stop PostgreSQL; `kill` stops it the way a crash would (immediate: no checkpoint, every
        connection cut), so what follows is crash recovery."""
        if self.layout.pg_url or not (self.data / "postmaster.pid").exists():
            return False
        subprocess.run(self._as_postgres([self._pg_bin("pg_ctl"), "-D", str(self.data), "-m",
                                          "immediate" if kill else "fast", "-w", "stop"]),
                       check=False, capture_output=True)
        return True
