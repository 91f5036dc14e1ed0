"""tools/bench_report.py: each benchmark's JSON becomes its table in docs/benchmarks.md.

The samples in tests/data/bench/ have the shape each benchmark's ``--json`` prints (``ringbuf.json`` is a
real run; the others carry the figures of recorded runs, trimmed), so a benchmark that renames a key it
reports breaks this test rather than the next report."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "data" / "bench"


def _load_tool() -> Any:
    spec = importlib.util.spec_from_file_location("bench_report", REPO / "tools" / "bench_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


br = _load_tool()
STAMP = br.Stamp(when="2026-12-04 21:50 UTC", commit="abc1234", cpu="AMD EPYC (x86_64)", cores=2, load=(0.5, 0.25, 0.125))


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def rows(lines: list[str]) -> dict[str, list[str]]:
    """A rendered table's rows by their first cell."""
    out = {}
    for line in lines:
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


def test_every_benchmark_has_a_sample_and_a_marked_section_in_the_document() -> None:
    doc = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for name in br.BENCHES:
        assert (SAMPLES / f"{name}.json").is_file(), name
        assert f"<!-- bench:{name} -->\n" in doc and f"\n<!-- /bench:{name} -->" in doc, name


def test_ringbuf_table() -> None:
    table = rows(br.render_ringbuf(sample("ringbuf")))
    ratio, target = table["C ring / Python ring, samples per second"]
    assert float(ratio) == sample("ringbuf")["ratio"] and target == "≥ 10"


def test_listen_table_reports_the_default_policy_with_its_late_hint() -> None:
    table = rows(br.render_listen(sample("listen")))
    assert table["idle CPU, the real listener thread, paced"] == ["1.05%", "≤ 2%"]
    assert table["VAD int8 agreement with fp32 (19,327 frames)"] == ["99.89%", "≥ 99%"]
    assert table["VAD per 32 ms frame, int8 / fp32"] == ["131.0 / 237.0 µs", "int8 ≤ fp32"]
    late = "end of turn, default (hint after this run's STT + LM, 405 ms)"
    assert table[f"{late}: complete sentences ended ≤ 700 ms after the last word"] == ["83.3%", "≥ 90%"]
    assert table[f"{late}: pauses cut (false end at the 0.7 s pause)"] == ["4.2%", "≤ 10%"]
    assert table["end of turn, hint at speech end: median end after the last word"] == ["257 ms", ""]
    assert not any(k.startswith("wake") for k in table)  # the report runs listen with --no-wake


def test_listen_table_falls_back_to_audio_only_and_takes_the_wake_word_when_present() -> None:
    r = sample("listen")
    del r["turn_policy"]["with_lm_hint"]
    r["wake"] = sample("wake")
    table = rows(br.render_listen(r))
    assert table["end of turn, audio only: complete sentences ended ≤ 700 ms after the last word"] == ["89.6%", "≥ 90%"]
    assert table["wake recall (48 clips)"] == ["0.958", "≥ 0.95"]
    assert table["wake confusable phrases accepted"][0] == "4 of 84 (0 without the homophone)"


def test_latency_table_and_stage_breakdown() -> None:
    lines = br.render_latency(sample("latency"))
    table = rows(lines)
    assert table["voice to voice p50 (24 of 24 turns answered)"] == ["351 ms", "≤ 800 ms"]
    assert table["cold start (process start to listening), median"] == ["1.62 s", "≤ 5 s"]
    assert table["peak RSS"] == ["682 MB", "≤ 800 MB"]
    assert table["STT word error rate, through the pipeline / the engine alone"] == ["0.052 / 0.052", "equal"]
    assert table["stt"] == ["152", "201"]


def test_mqtt_table() -> None:
    table = rows(br.render_mqtt(sample("mqtt")))
    assert table["QoS 1 events lost over a 60 s broker outage"] == ["0 of 556 (476 sent during the outage)", "0"]
    assert table["availability / state right after the reconnect"] == ["0.02 / 0.02 s", "≤ 1 s"]
    assert table["a 10 ms listener loop's delay meanwhile, max / p99"] == ["0.7 / 0.4 ms", "max ≤ 10 ms"]


def test_mqtt_table_of_one_scenario() -> None:
    r = sample("mqtt")
    r["outage"] = None  # --only fuzz
    assert not any("outage" in k for k in rows(br.render_mqtt(r)))


def test_cloud_table() -> None:
    table = rows(br.render_cloud(sample("cloud")))
    assert table["nearest region chosen (RTTs 20 ms apart)"] == ["20/20", "100%"]
    assert table["failover: worst first token over 3 scenarios, budget 800 ms"] == ["925 ms", "≤ 1,000 ms"]
    assert table["faulted requests (1,000): answered / apologised / unhandled"] == ["480 / 520 / 0", "0 unhandled"]
    assert table["real llama_cpp.server"] == ["skipped: --no-real", ""]


def test_wake_table_marks_the_default_and_lists_the_noise_draws() -> None:
    table = rows(br.render_wake(sample("wake")))
    assert table["**configured (the default)**"] == ["0.958", "0.0", "4 (0)", "0.2180", "0.81"]
    assert table["`micro`"][-1] == "–"  # no second stage: no wait
    assert table["Obey Nabu. [piper-ls1.25 babble@20]"][0] == "0/10"


def test_section_starts_with_the_stamp() -> None:
    text = br.section("ringbuf", sample("ringbuf"), STAMP)
    first = text.splitlines()[0]
    assert first == ("_Measured 2026-12-04 21:50 UTC at commit `abc1234` on AMD EPYC (x86_64), 2 cores "
                     "(load average 0.5 0.2 0.1 at the start), by `python -m edge_agent bench ringbuf --json --runs 5`._")


def test_replace_block_keeps_the_rest_of_the_document() -> None:
    doc = "intro\n<!-- bench:mqtt -->\nold\ntable\n<!-- /bench:mqtt -->\nafter\n<!-- bench:cloud -->\nc\n<!-- /bench:cloud -->\n"
    assert br.replace_block(doc, "mqtt", "new") == \
        "intro\n<!-- bench:mqtt -->\nnew\n<!-- /bench:mqtt -->\nafter\n<!-- bench:cloud -->\nc\n<!-- /bench:cloud -->\n"
    with pytest.raises(KeyError):
        br.replace_block(doc, "latency", "x")


def test_parse_output_takes_the_json_object_after_any_chatter() -> None:
    assert br.parse_output('{"ratio": 11.0}\n') == {"ratio": 11.0}
    assert br.parse_output('warming up\n{\n  "ratio": 11.0\n}\n') == {"ratio": 11.0}
    with pytest.raises(ValueError):
        br.parse_output("no json here\n")


def test_cpu_model_from_cpuinfo() -> None:
    assert br.cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").startswith("AMD EPYC 7B13 (")
    assert br.cpu_model("Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n").startswith(
        "Raspberry Pi 4 Model B Rev 1.4 (")


def copies(tmp_path: Path) -> tuple[Path, Path]:
    """The document and the README, copied where the tool may rewrite them."""
    doc, readme = tmp_path / "benchmarks.md", tmp_path / "README.md"
    doc.write_text((REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8"), encoding="utf-8")
    readme.write_text((REPO / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    return doc, readme


def test_main_renders_saved_json_into_the_document_and_the_readme(tmp_path: Path) -> None:
    doc, readme = copies(tmp_path)
    original = doc.read_text(encoding="utf-8")
    assert br.main(["mqtt", "cloud", "--doc", str(doc), "--readme", str(readme), "--from-json", str(SAMPLES)]) == 0
    text = doc.read_text(encoding="utf-8")
    for name in ("mqtt", "cloud"):  # each rendered table says when and where it was measured
        assert br.block(text, name).lstrip().startswith("_Measured "), name
    assert "| QoS 1 events lost over a 60 s broker outage | 0 of 556 (476 sent during the outage) | 0 |" in text
    start = original.index("<!-- bench:latency -->")
    assert original[start:] == text[text.index("<!-- bench:latency -->"):]  # the other tables are untouched
    summary = rows(br.block(readme.read_text(encoding="utf-8"), "summary").splitlines())
    assert summary["`bench mqtt`"] == ["crashes / unhandled errors in 10,000 malformed commands", "0 / 0", "0 / 0"]


def test_main_keeps_a_failed_benchmarks_table(tmp_path: Path) -> None:
    doc, readme = copies(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    before = doc.read_text(encoding="utf-8")
    assert br.main(["mqtt", "--doc", str(doc), "--readme", str(readme), "--from-json", str(empty)]) == 1
    assert doc.read_text(encoding="utf-8") == before


def test_the_readme_summary_is_what_the_document_says() -> None:
    """Every row finds its figure, and the README's table is the one the tool would write now."""
    doc = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    table = br.summary_table(doc)
    assert not [line for line in table if "| – |" in line]
    assert br.block((REPO / "README.md").read_text(encoding="utf-8"), "summary") == "\n".join(table), \
        "README.md's benchmark table is out of date: python tools/bench_report.py --summary-only"


def test_summary_takes_each_figure_from_its_own_table() -> None:
    doc = br.replace_block((REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8"), "latency",
                           br.section("latency", sample("latency"), STAMP))
    table = [line for line in br.summary_table(doc) if "voice to voice p50" in line]
    assert table == ["| `bench latency` | voice to voice p50 | 351 ms | ≤ 800 ms |"]


def test_listen_table_reports_the_held_out_splits_against_their_targets() -> None:
    r = sample("listen")
    r["turn_policy_heldout2"] = {"with_lm_hint": {"hint_after_stt_and_lm_time": {
        "pause_false_end_rate": 0.312, "pause_clips": 32, "complete_cut_before_last_word": 2,
        "complete_within_700ms": 0.781, "complete_max_silence": 2}}}
    table = rows(br.render_listen(r))
    label = "end of turn, second held-out split"
    assert table[f"{label}: pauses cut (32 clips)"] == ["31.2%", "≤ 5%"]
    assert table[f"{label}: complete sentences ended before the last word"] == ["2", "0"]
    assert table[f"{label}: complete sentences ended ≤ 700 ms after the last word"] == ["78.1%", "≥ 95%"]
    assert not any(k.startswith("end of turn, held-out split") for k in table)  # not measured: no rows
