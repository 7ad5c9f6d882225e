"""Real processes for the traffic tests: upstream apps, nginx and HAProxy on free loopback ports.

Each helper is a context manager that starts its process, waits until it answers, and stops it
(and checks it is gone) on the way out.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: object, what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll ``condition()`` until true; fail the test naming ``what`` after ``timeout`` s."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def upstream_app(name: str) -> Iterator[str]:
    """An app answering ``name`` to every request; yields its ``127.0.0.1:port``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_upstream_app.py"), name, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: accepts(port) or process.poll() is not None, f"the {name} app")
        assert process.poll() is None, f"the {name} app exited with {process.returncode}"
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass(frozen=True)
class NginxSite:
    """A running nginx: its main config, the included upstream file, where it listens."""

    binary: str
    main_config: Path
    upstream_file: Path
    port: int
    pid_file: Path
    error_log: Path

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rollout-status"


NGINX_CONFIG = """\
daemon off;
worker_processes 2;
pid {pid};
error_log {error_log} warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {upstream_file};
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        {status}
    }}
    {extra}
}}
"""


def write_nginx_config(site: NginxSite, *, status: bool = False, extra: str = "") -> None:
    """(Re)write the main config; ``status`` adds the location that reports the version."""
    status_location = (
        'location = /rollout-status { return 200 "$rollout_version_app"; }' if status else ""
    )
    site.main_config.write_text(
        NGINX_CONFIG.format(
            pid=site.pid_file,
            error_log=site.error_log,
            tmp=site.main_config.parent,
            upstream_file=site.upstream_file,
            port=site.port,
            status=status_location,
            extra=extra,
        )
    )


@contextlib.contextmanager
def nginx(
    binary: str, directory: Path, upstream_text: str, *, status: bool = False
) -> Iterator[NginxSite]:
    """nginx in the foreground (``daemon off``) with its own prefix in ``directory``."""
    site = NginxSite(
        binary=binary,
        main_config=directory / "nginx.conf",
        upstream_file=directory / "upstream.conf",
        port=free_port(),
        pid_file=directory / "nginx.pid",
        error_log=directory / "error.log",
    )
    site.upstream_file.write_text(upstream_text)
    write_nginx_config(site, status=status)
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(site.main_config), "-e", str(site.error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: (accepts(site.port) and site.pid_file.exists()) or process.poll() is not None,
            "nginx",
        )
        assert process.poll() is None, f"nginx exited: {site.error_log.read_text()}"
        yield site
    finally:
        stop(process, signal.SIGQUIT)


@dataclass(frozen=True)
class HaproxySite:
    socket: Path
    port: int
    config: Path


HAPROXY_CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    nbthread 2
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:{port}
    default_backend app
backend app
    balance {balance}
    server stable {stable} weight 100 {check}
    server canary {canary} weight 100 {check}
"""


@contextlib.contextmanager
def haproxy(
    binary: str,
    directory: Path,
    stable: str,
    canary: str,
    *,
    balance: str = "roundrobin",
    check: str = "",
) -> Iterator[HaproxySite]:
    """HAProxy in the foreground with its runtime API on a UNIX socket in ``directory``."""
    site = HaproxySite(
        socket=directory / "admin.sock", port=free_port(), config=directory / "haproxy.cfg"
    )
    site.config.write_text(
        HAPROXY_CONFIG.format(
            socket=site.socket,
            port=site.port,
            stable=stable,
            canary=canary,
            balance=balance,
            check=check,
        )
    )
    process = subprocess.Popen(
        [binary, "-f", str(site.config), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: (accepts(site.port) and site.socket.exists()) or process.poll() is not None,
            "haproxy",
        )
        assert process.poll() is None, f"haproxy exited with {process.returncode}"
        yield site
    finally:
        stop(process)


def runtime_api(socket_path: Path, command: str) -> str:
    """Send one command to HAProxy's runtime API, independently of the router under test."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(socket_path))
        conn.sendall(command.encode() + b"\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data.decode().strip()


def measure(port: int, requests: int) -> Counter[str]:
    """Send ``requests`` GETs over one keep-alive connection; count the answers by body.

    A failed request is counted as ``"error: <reason>"``.
    """
    counts: Counter[str] = Counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(requests):
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read().decode()
                counts[body if response.status == 200 else f"error: HTTP {response.status}"] += 1
            except (OSError, http.client.HTTPException) as exc:
                counts[f"error: {type(exc).__name__}"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    finally:
        conn.close()
    return counts


def get_once(port: int) -> str:
    """One GET on a fresh connection: the body, or ``"error: ..."``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        return body if response.status == 200 else f"error: HTTP {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        return f"error: {type(exc).__name__}: {exc}"
    finally:
        conn.close()


def is_root() -> bool:
    return os.geteuid() == 0
