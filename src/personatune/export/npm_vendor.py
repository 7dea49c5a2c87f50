"""The browser runtime, vendored from the npm registry: pinned tarballs, integrity-checked, cached.

The exported page must never fetch code from a CDN at run time, so the JavaScript (transformers.js,
which bundles onnxruntime-web's JavaScript) and onnxruntime-web's WebAssembly binaries are copied
into the folder at export time. Each tarball is downloaded once from the npm registry, checked
against the sha512 integrity the registry publishes, and kept in the personatune cache; later
exports work offline. PERSONATUNE_NPM_REGISTRY points at a mirror.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from personatune.artifacts import atomic_open
from personatune.cache import cache_root
from personatune.errors import UserError


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str            # sha512-<base64>, as in package-lock.json
    files: tuple[str, ...]    # paths inside the tarball's package/ folder, copied flat into vendor/

    @property
    def tarball(self) -> str:
        short = self.name.split("/")[-1]
        return f"{self.name}/-/{short}-{self.version}.tgz"


# transformers.js pins the onnxruntime-web build it bundles; the .wasm files must be that exact build.
TRANSFORMERS_JS = Package(
    "@huggingface/transformers", "4.3.1",
    "sha512-5+voSeUCFK6PCKlY15dPhNOKq3/zOTxDN7oC+Wy9dFb1QZ0TSQomZRRy7URRK8YRuUoE9fGMQTTPC5d/pWBJhA==",
    ("dist/transformers.min.js", "LICENSE"))
ONNXRUNTIME_WEB = Package(
    "onnxruntime-web", "1.31.0-dev.20260914-8d85527a0",
    "sha512-Iy7rtadoBgxS/LLvDr3QW38DB1PNXRnr0GJMcL0TAt7c9qjgVQl83UlGCVyeAnK2InpmW8Uc3PL8XIuqtDeF6g==",
    ("dist/ort-wasm-simd-threaded.asyncify.wasm", "dist/ort-wasm-simd-threaded.asyncify.mjs",
     "dist/ort-wasm-simd-threaded.jsep.wasm", "dist/ort-wasm-simd-threaded.jsep.mjs"))
PACKAGES = (TRANSFORMERS_JS, ONNXRUNTIME_WEB)
REGISTRY = "https://registry.npmjs.org"


def _check(data: bytes, integrity: str, what: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise UserError(f"{what}: integrity check failed (got {algorithm}-{digest[:16]}..., expected "
                        f"{integrity[:24]}...); delete it from the cache or check the registry mirror")


def fetch(package: Package, log=print) -> Path:
    """The package's tarball from the cache, downloading it from the registry the first time."""
    folder = cache_root() / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / package.tarball.replace("/", "_")
    if path.exists():
        _check(path.read_bytes(), package.integrity, str(path))
        return path
    registry = os.environ.get("PERSONATUNE_NPM_REGISTRY", REGISTRY).rstrip("/")
    url = f"{registry}/{package.tarball}"
    log(f"downloading {package.name}@{package.version} from {registry}")
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except OSError as exc:
        raise UserError(f"cannot download {url} ({exc}); the browser export vendors its JavaScript from the npm "
                        "registry once, then works offline. Set PERSONATUNE_NPM_REGISTRY to reach a mirror") from exc
    _check(data, package.integrity, url)
    with atomic_open(path, "wb") as handle:  # the cache is shared: never a half tarball
        handle.write(data)
    return path


def vendor(target: Path, log=print) -> list[Path]:
    """Copy every package's runtime files into `target` (flat), with each package's licence."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for package in PACKAGES:
        with tarfile.open(fileobj=io.BytesIO(fetch(package, log).read_bytes()), mode="r:gz") as archive:
            members = {m.name.removeprefix("package/"): m for m in archive.getmembers() if m.isfile()}
            for name in package.files:
                member = members.get(name)
                if member is None:
                    raise UserError(f"{package.name}@{package.version} has no {name}; the pinned version is broken")
                out = target / (f"LICENSE-{package.name.split('/')[-1]}" if name == "LICENSE" else Path(name).name)
                with archive.extractfile(member) as src, open(out, "wb") as dst:  # target is a staging folder
                    shutil.copyfileobj(src, dst)
                written.append(out)
    return written
