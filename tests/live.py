"""A real uvicorn server on 127.0.0.1 in a background thread, for tests that
need real sockets: many concurrent clients, or a browser."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI


def bind_local() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1 (bound before use, so no other process takes the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serve(app: FastAPI, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve `app` until the block ends (on `sock` if given, e.g. when the app must know its
    own URL before it starts); yields its base URL."""
    sock = sock or bind_local()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="oao-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live OAO server did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def serve_instances(stack: ExitStack, tmp_path: Path, names: tuple[str, ...] = ("a", "b"),
                    wrap: Callable[[FastAPI, str], Any] | None = None) -> list[tuple[str, Any, Any, Any]]:
    """Separate OAO servers on 127.0.0.1, each with its own SQLite file, public URL and secret key (for
    federation tests). Returns (url, database, settings, served app) per name; `wrap` may wrap an app (e.g.
    to record its traffic). Everything stops when `stack` closes."""
    from oao.app import create_app
    from oao.config import Settings
    from oao.core.db import Database
    from oao.models import Base

    started = []
    for name in names:
        sock = bind_local()
        settings = Settings(database_url=f"sqlite:///{tmp_path}/{name}.sqlite3", embedded_worker=False,
                            public_url=url_of(sock), secret_key=f"instance-{name}-secret-" + "x" * 20)
        db = Database(settings.database_url)
        Base.metadata.create_all(db.engine)
        stack.callback(db.dispose)
        app: Any = create_app(settings, db=db, start_worker=False)
        if wrap is not None:
            app = wrap(app, name)
        started.append((stack.enter_context(serve(app, sock)), db, settings, app))
    return started
