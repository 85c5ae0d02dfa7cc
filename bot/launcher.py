"""Run the whole assistant locally: Rasa server, action server and gateway, stopped together.

    .venv/bin/python -m bot.launcher --model models/vi-<hash>.tar.gz

The gateway starts at once and answers (safely, with 111) even while Rasa is still loading.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from bot.config import PROJECT_ROOT, load_settings
from bot.gateway import build_app

log = logging.getLogger("launcher")


def start_rasa(model: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [str(PROJECT_ROOT / "bin" / "rasa"), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port),
         "--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"],
        cwd=PROJECT_ROOT,
    )


def start_action_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)], cwd=PROJECT_ROOT, env=env
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.launcher")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--no-rasa", action="store_true", help="run only the gateway (Rasa runs elsewhere)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    children: list[subprocess.Popen] = []
    if not args.no_rasa:
        rasa_port = int(settings.rasa_url.rsplit(":", 1)[-1].split("/")[0])
        children.append(start_action_server(settings.action_server_port))
        children.append(start_rasa(args.model, rasa_port))

    def stop_children(*_args: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()

    log.info("web chat: http://%s:%s/   console: http://%s:%s/console", settings.host, settings.port,
             settings.host, settings.port)
    log.info("Rasa is loading its model (about half a minute); until then replies are the safe fallback")
    try:
        web.run_app(build_app(settings), host=settings.host, port=settings.port, print=None)
    finally:
        stop_children()


if __name__ == "__main__":
    main()
