"""`cloudmarket viz` serves the seeded front end offline, else Solara's CDN, says which, and seeds from npm.

Every address here is on 127.0.0.1: Solara's CDN is pointed at a local socket
(SOLARA_ASSETS_CDN) and the npm registry at a local HTTP server (npm_config_registry).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("cloudmarket")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def viz_env(cache: Path, cdn: str) -> dict[str, str]:
    return {**os.environ, "SOLARA_ASSETS_PROXY_CACHE_DIR": str(cache), "SOLARA_ASSETS_CDN": cdn}


def test_not_seeded_and_cdn_unreachable_names_the_seeding_command(tmp_path):
    closed = free_port()  # nothing listens there: the CDN "cannot be reached"
    done = subprocess.run([str(CLI), "viz", "--port", str(free_port())],
                          env=viz_env(tmp_path / "empty-cache", f"http://127.0.0.1:{closed}/"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "Solara's front-end files are not seeded" in done.stderr and "cannot be reached" in done.stderr
    assert "cloudmarket viz --seed-assets" in done.stderr and "--cdn" in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout  # no server was started


def _first_lines(cmd: list[str], env: dict[str, str], n: int) -> list[str]:
    """Start ``cmd``, read its first ``n`` stdout lines, stop it by its PID."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        return [proc.stdout.readline().strip() for _ in range(n)]
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # viz execs the server in place: same PID
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_online_without_seeded_files_serves_from_the_cdn_and_says_so(tmp_path):
    with socket.socket() as cdn:  # a CDN that accepts connections
        cdn.bind(("127.0.0.1", 0))
        cdn.listen()
        url = f"http://127.0.0.1:{cdn.getsockname()[1]}/"
        lines = _first_lines([str(CLI), "viz", "--port", str(free_port())], viz_env(tmp_path / "empty", url), 2)
    assert lines[0].startswith(f"front end: Solara's CDN ({url})"), lines
    assert "cloudmarket viz --seed-assets" in lines[0] and lines[1].startswith("serving on"), lines


def test_seeded_files_are_served_offline_and_says_so():
    from cloudmarket.experiments import frontend

    # scripts/setup_browser.sh (run by make test) seeds this venv's cache
    assert frontend.missing_packages() == []
    closed = free_port()
    env = {**os.environ, "SOLARA_ASSETS_CDN": f"http://127.0.0.1:{closed}/"}  # offline: the CDN is not asked
    lines = _first_lines([str(CLI), "viz", "--port", str(free_port())], env, 2)
    assert lines[0] == f"front end: the seeded copy in {frontend.cache_dir()} (works offline)", lines


def _tarball(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def registry():
    """A tiny npm registry on 127.0.0.1: abbreviated packuments and tarballs, as registry.npmjs.org serves them."""
    served: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    def publish(name: str, versions: dict[str, bytes], corrupt: bool = False) -> None:
        meta = {"name": name, "versions": {}}
        for version, data in versions.items():
            path = f"/tarballs/{name.replace('/', '_')}-{version}.tgz"
            served[path] = data if not corrupt else data[:-1] + bytes([data[-1] ^ 1])
            digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
            meta["versions"][version] = {"name": name, "version": version,
                                         "dist": {"tarball": base + path[1:], "integrity": f"sha512-{digest}"}}
        served["/" + name.replace("/", "%2F")] = json.dumps(meta).encode()

    yield base, publish
    server.shutdown()
    thread.join()


def test_seed_assets_downloads_checks_and_unpacks_from_the_npm_registry(tmp_path, registry):
    from cloudmarket.experiments import frontend

    base, publish = registry
    publish("requirejs", {"2.3.6": _tarball({"package.json": '{"name": "requirejs"}', "require.js": "// r"})})
    publish("@widgetti/app", {"1.0.0": _tarball({"package.json": "{}", "dist/main.js": "// app"})})
    publish("vega", {"5.1.0": _tarball({"package.json": "{}", "v.js": "5.1"}),
                     "5.30.0": _tarball({"package.json": "{}", "v.js": "5.30"}),
                     "6.0.0": _tarball({"package.json": "{}", "v.js": "6"})})
    cache = tmp_path / "cdn"
    seeded = frontend.seed(["requirejs@2.3.6", "@widgetti/app@1.0.0", "vega@5"], folder=cache, url=base,
                           log=lambda msg: None)
    assert seeded == ["requirejs@2.3.6", "@widgetti/app@1.0.0", "vega@5"]
    assert (cache / "requirejs@2.3.6" / "require.js").read_text() == "// r"
    assert (cache / "@widgetti/app@1.0.0" / "dist" / "main.js").read_text() == "// app"
    assert (cache / "vega@5" / "v.js").read_text() == "5.30"  # the newest 5.x, where Solara asks for vega@5
    assert frontend.seed(["requirejs@2.3.6"], folder=cache, url=base, log=lambda msg: None) == []  # idempotent


def test_seed_assets_refuses_a_tarball_that_fails_its_checksum_and_leaves_nothing(tmp_path, registry):
    from cloudmarket.experiments import frontend

    base, publish = registry
    publish("requirejs", {"2.3.6": _tarball({"package.json": "{}"})}, corrupt=True)
    with pytest.raises(frontend.FrontendError, match="does not match the registry's checksum"):
        frontend.seed(["requirejs@2.3.6"], folder=tmp_path / "cdn", url=base, log=lambda msg: None)
    assert not (tmp_path / "cdn" / "requirejs@2.3.6").exists()


def test_seed_assets_command_with_the_registry_unreachable_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    from cloudmarket.experiments.cli import main

    monkeypatch.setenv("SOLARA_ASSETS_PROXY_CACHE_DIR", str(tmp_path / "cdn"))
    monkeypatch.setattr("solara.server.settings.assets.proxy_cache_dir", tmp_path / "cdn")
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{free_port()}/")
    assert main(["viz", "--seed-assets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot download @widgetti/solara-vuetify") and "npm registry" in err, err
    assert "Traceback" not in err and not any((tmp_path / "cdn").rglob("package.json"))
