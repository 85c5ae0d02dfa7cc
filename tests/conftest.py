"""Shared fixtures: databases (SQLite always; PostgreSQL/Redis when reachable), a real Rasa server."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.store import Store

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def service_or_skip(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (REQUIRE_SERVICES=1: CI needs it)")
    pytest.skip(message + ": start it to run these tests (CI makes them mandatory)")


@pytest.fixture(autouse=True)
def never_silent(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Over the whole test corpus: the pipeline's last guard against a child's message answered by nothing
    (bot/pipeline.py, "silent turn") must never have to act. Its firing is a defect wherever it happens."""
    yield
    silent = [r.getMessage() for r in caplog.records if r.getMessage().startswith("silent turn")]
    assert not silent, silent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        config_file=tmp_path / "none.yml", environ={},
        database_url=f"sqlite:///{tmp_path / 'test.db'}", opening_hours="00:00-23:59", opening_days="1-7",
        on_call_during_hours=True,
    )


@pytest.fixture
def sqlite_store(settings: Settings) -> Store:
    store = Store.open(settings.database_url)
    yield store
    store.close()


@pytest.fixture
def postgres_store() -> Store:
    service_or_skip("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    store = Store.open(POSTGRES_URL + f"?options=-csearch_path%3D{schema}")
    yield store
    store.close()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(f"{request.param}_store")


def trained_model() -> Path:
    """The newest model in models/ (bin/test trains before pytest runs; tests never train)."""
    models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("no trained model in models/: run bin/train (bin/test does it for you)")
    return models[-1]


@pytest.fixture(scope="session")
def model_path() -> Path:
    return trained_model()


@dataclass(frozen=True)
class RasaServer:
    url: str
    database_url: str  # the action server writes escalations here: gateways under test share it


@pytest.fixture(scope="session")
def rasa_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> RasaServer:
    """A real Rasa server (REST channel + HTTP API) on a free loopback port, with the action server."""
    workdir = tmp_path_factory.mktemp("rasa")
    rasa_port, action_port = free_port(), free_port()
    db = workdir / "actions.db"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "ASSISTANT_DATABASE_URL": f"sqlite:///{db}",
           "ASSISTANT_OPENING_HOURS": "00:00-23:59", "ASSISTANT_OPENING_DAYS": "1-7"}
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    actions = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "rasa_sdk", "--actions", "actions",
         "-p", str(action_port)], cwd=PROJECT_ROOT, env=env,
        stdout=open(workdir / "actions.log", "w"), stderr=subprocess.STDOUT,
    )
    rasa = subprocess.Popen(
        [str(PROJECT_ROOT / "bin" / "rasa"), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(rasa_port),
         "--model", str(model_path), "--endpoints", str(endpoints), "--credentials",
         str(PROJECT_ROOT / "credentials.yml")],
        cwd=workdir, env=env, stdout=open(workdir / "rasa.log", "w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{rasa_port}"
    deadline = time.monotonic() + 180
    import urllib.request

    while time.monotonic() < deadline:
        if rasa.poll() is not None:
            raise RuntimeError("Rasa exited:\n" + (workdir / "rasa.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(url + "/status", timeout=2) as response:
                if b"model_file" in response.read() and reachable("127.0.0.1", action_port):
                    break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        raise RuntimeError("Rasa did not become ready:\n" + (workdir / "rasa.log").read_text()[-3000:])
    yield RasaServer(url, f"sqlite:///{db}")
    for process in (rasa, actions):
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
