"""Solara's front-end files for `cloudmarket viz`: a seeded copy (works offline) or Solara's CDN (online).

The page's browser code (the Vue apps, RequireJS, fonts) is not in Solara's wheel. Solara's
server proxies a public CDN for it and keeps what it fetched in a cache folder of the
environment (``solara.server.settings.assets.proxy_cache_dir``). So the page is served one
of two ways, and ``cloudmarket viz`` says which:

* **seeded**: ``cloudmarket viz --seed-assets`` puts the exact packages this Solara asks
  for into that cache once, downloaded from the npm registry (the only place it needs) and
  checked against the registry's sha512 digest; from then on the page works offline;
* **CDN**: when they are not seeded, the server fetches them from Solara's CDN as the
  browser asks, which needs internet access. When the CDN cannot be reached either,
  ``viz`` refuses and names the seeding command (``--cdn`` serves anyway).

The registry is ``$npm_config_registry`` when set (as for npm), else registry.npmjs.org.

Example
-------
>>> spec_parts("@widgetti/solara-vuetify-app@10.1.1"), spec_parts("vega@5")
(('@widgetti/solara-vuetify-app', '10.1.1'), ('vega', '5'))
>>> pick_version({"5.1.0": {}, "5.30.0": {}, "6.0.0": {}, "5.31.0-rc.1": {}}, "5")
'5.30.0'
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
RUNTIME = ["requirejs@2.3.6"]  # besides the Vue apps named in Solara's page template
# fetched by some widgets only (icons, grid layouts, Vega charts): seeded too, not required to serve
EXTRAS = ["font-awesome@4.5.0", "@widgetti/vue-grid-layout@2.3.13-alpha.2", "vega@5", "vega-lite@5", "vega-embed@6"]
TIMEOUT_S = 30


class FrontendError(ValueError):
    """The front-end files cannot be seeded or served: says why and what to do."""


def cache_dir() -> Path:
    """Where Solara's server looks for the front-end files (and caches what it fetches)."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def cdn_url() -> str:
    """Solara's CDN (``SOLARA_ASSETS_CDN`` changes it)."""
    import solara.settings

    return str(solara.settings.assets.cdn)


def required_packages() -> list[str]:
    """The npm packages the page cannot render without, at the versions this Solara asks for."""
    from solara.server import settings

    template = Path(settings.__file__).parent / "templates" / "solara.html.j2"
    apps = sorted(set(re.findall(r"@widgetti/solara-vuetify3?-app@[0-9][0-9.]*[0-9]", template.read_text())))
    return [*apps, *RUNTIME]


def missing_packages(folder: Path | None = None) -> list[str]:
    """Required packages not in the cache (an empty list: the page can be served offline)."""
    folder = cache_dir() if folder is None else folder
    return [p for p in required_packages() if not (folder / p / "package.json").is_file()]


def cdn_reachable(url: str | None = None, timeout: float = 3.0) -> bool:
    """True when a TCP connection to the CDN's host can be opened (no request is sent)."""
    parsed = urllib.parse.urlsplit(url or cdn_url())
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def spec_parts(spec: str) -> tuple[str, str]:
    """("name", "version or major") of "name@version", scoped names included."""
    name, _, version = spec.rpartition("@")
    return name, version


def pick_version(versions: dict, wanted: str) -> str:
    """``wanted`` when it is an exact version; for a bare major ("5"), the newest release of it."""
    if wanted in versions:
        return wanted
    if wanted.isdigit():
        releases = [v for v in versions if re.fullmatch(rf"{wanted}\.\d+\.\d+", v)]
        if releases:
            return max(releases, key=lambda v: tuple(int(x) for x in v.split(".")))
    raise FrontendError(f"{wanted}: no such version in the registry")


def registry() -> str:
    """The npm registry to download from: $npm_config_registry (as npm reads it) or the public one."""
    url = os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    return url if url.endswith("/") else url + "/"


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "cloudmarket"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return response.read()


def _check_integrity(data: bytes, dist: dict, spec: str) -> None:
    """Compare the tarball with the registry's digest (sha512 integrity, else the sha1 shasum)."""
    integrity = dist.get("integrity", "")
    if integrity.startswith("sha512-"):
        ok = base64.b64decode(integrity[7:]) == hashlib.sha512(data).digest()
    elif dist.get("shasum"):
        ok = hashlib.sha1(data).hexdigest() == dist["shasum"]  # noqa: S324 (npm's own checksum)
    else:
        raise FrontendError(f"{spec}: the registry gives no checksum for its tarball; not installed")
    if not ok:
        raise FrontendError(f"{spec}: the downloaded tarball does not match the registry's checksum; not installed")


def seed(packages: list[str] | None = None, folder: Path | None = None, url: str | None = None,
         log: Callable[[str], None] = print) -> list[str]:
    """Download each package not yet in ``folder`` from the npm registry; return those seeded.

    Each package is unpacked into a temporary folder beside its place and renamed into it
    whole, so a failure (network, checksum) never leaves half a package that would count as
    seeded.
    """
    folder = cache_dir() if folder is None else folder
    base = url or registry()
    done = []
    for spec in packages if packages is not None else [*required_packages(), *EXTRAS]:
        target = folder / spec
        if (target / "package.json").is_file():
            continue
        name, wanted = spec_parts(spec)
        try:
            meta = json.loads(_get(base + urllib.parse.quote(name, safe="@"),
                                   accept="application/vnd.npm.install-v1+json"))
            version = pick_version(meta.get("versions", {}), wanted)
            dist = meta["versions"][version]["dist"]
            data = _get(dist["tarball"])
        except FrontendError as err:
            raise FrontendError(f"{spec}: {err}") from None
        except (OSError, ValueError, KeyError) as err:
            raise FrontendError(f"cannot download {spec} from the npm registry {base} ({err}); check the "
                                "connection, or set npm_config_registry to a mirror") from None
        _check_integrity(data, dist, spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(staging, filter="data")  # no absolute paths, links out or devices
            inner = [p for p in staging.iterdir()]
            root = inner[0] if len(inner) == 1 and inner[0].is_dir() else staging  # npm packs under package/
            if target.exists():
                shutil.rmtree(target)  # an incomplete earlier copy (no package.json)
            os.replace(root, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"seeded {spec} ({version}) -> {target}")
        done.append(spec)
    return done
