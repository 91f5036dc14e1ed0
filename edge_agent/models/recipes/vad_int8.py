"""Recipe ``vad_int8``: the int8 Silero VAD, built from the fp32 one deterministically, with no
calibration data, so every device builds the same bytes and the manifest can pin their sha256.

  1. take ``silero_vad_op18_ifless.onnx`` and keep only its 16 kHz branch as a flat graph
     (inputs ``input`` [batch, 64 + 512] and ``state``; no ``sr``, no If), which alone is cheaper
     than the If model;
  2. replace the two LSTM Gemms (the largest weights) by ``DynamicQuantizeLinear`` + ``MatMulInteger``
     with int8 weights, symmetric, one scale per output column. Weight quantization is max/divide/round
     in float32 numpy: exact IEEE operations, the same bytes on x86 and ARM.

Calibrated (static) quantization is avoided on purpose: it needs float inference, whose last bits
differ across CPUs, so its result could not be pinned. The graph is written by our own code with
fixed names and producer (``PRODUCER`` is part of the pinned bytes), so its sha256 does not depend on
the onnxruntime version either; only on ``onnx``'s protobuf serialisation. If a future ``onnx``
serialises differently, ``models pull`` reports a sha256 mismatch for ``silero-vad-int8``; rebuild
with ``tools/quantize_vad.py`` and re-pin. Agreement with fp32 is checked by ``tests/test_vad.py``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

SOURCE_MODEL = "silero-vad"
SOURCE_FILE = "silero_vad_op18_ifless.onnx"
OUTPUT_FILE = "silero_vad_16k_int8.onnx"
PRODUCER = "edge-agent quantize_vad"  # in the pinned bytes: changing it changes the sha256
PRODUCER_VERSION = "1"


def _flat_16k_graph(src: Path):  # -> onnx.ModelProto
    """The then-branch (sr == 16000) of the top-level If, as a graph of its own."""
    import onnx
    from onnx import helper

    model = onnx.load(str(src))
    if_nodes = [n for n in model.graph.node if n.op_type == "If"]
    if len(if_nodes) != 1:
        raise ValueError(f"{src}: expected one top-level If node, found {len(if_nodes)}")
    then = next(a.g for a in if_nodes[0].attribute if a.name == "then_branch")
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in then.node]
    rename = {then.output[0].name: "output", then.output[1].name: "stateN"}
    for node in nodes:
        del node.metadata_props[:]
        for i, name in enumerate(node.output):
            if name in rename:
                node.output[i] = rename[name]
    used = {name for node in nodes for name in node.input}
    inits = [t for t in model.graph.initializer if t.name in used]
    inputs = [i for i in model.graph.input if i.name in ("input", "state")]
    graph = helper.make_graph(nodes, "silero_vad_16k", inputs, list(model.graph.output), inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=model.ir_version)


def _quantize_gemms(model) -> int:  # (onnx.ModelProto) -> int
    """Replace each ``Gemm(x, W, b)`` with transB=1 and an initializer W by an int8 MatMulInteger."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    new_nodes = []
    replaced = 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.input[1] not in inits or attrs.get("transB") != 1
                or attrs.get("transA", 0) != 0 or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0):
            new_nodes.append(node)
            continue
        x, w_name = node.input[0], node.input[1]
        w = numpy_helper.to_array(inits[w_name]).astype(np.float32).T  # [K, N]
        scale = (np.abs(w).max(axis=0) / np.float32(127.0)).astype(np.float32)
        scale[scale == 0] = np.float32(1.0)
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        base = node.name or node.output[0]
        graph.initializer.extend([
            numpy_helper.from_array(q, f"{w_name}.int8"),
            numpy_helper.from_array(scale, f"{w_name}.scale"),
            numpy_helper.from_array(np.zeros(q.shape[1], np.int8), f"{w_name}.zero"),
        ])
        matmul_out = f"{base}.matmul" if len(node.input) > 2 else node.output[0]
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [x], [f"{base}.xq", f"{base}.xs", f"{base}.xz"], name=f"{base}.quant"),
            helper.make_node("MatMulInteger", [f"{base}.xq", f"{w_name}.int8", f"{base}.xz", f"{w_name}.zero"],
                             [f"{base}.acc"], name=f"{base}.matmul_int"),
            helper.make_node("Cast", [f"{base}.acc"], [f"{base}.accf"], to=TensorProto.FLOAT, name=f"{base}.cast"),
            helper.make_node("Mul", [f"{base}.xs", f"{w_name}.scale"], [f"{base}.scales"], name=f"{base}.scales"),
            helper.make_node("Mul", [f"{base}.accf", f"{base}.scales"], [matmul_out], name=f"{base}.dequant"),
        ]
        if len(node.input) > 2 and node.input[2]:
            new_nodes.append(helper.make_node("Add", [matmul_out, node.input[2]], [node.output[0]], name=f"{base}.bias"))
        replaced += 1
    used = {name for n in new_nodes for name in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return replaced


def quantize(src: Path, dst: Path) -> None:
    import onnx

    model = _flat_16k_graph(src)
    if _quantize_gemms(model) != 2:
        raise ValueError(f"{src}: expected the two LSTM Gemms of Silero VAD")
    model.producer_name, model.producer_version = PRODUCER, PRODUCER_VERSION
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(model.SerializeToString(deterministic=True))


def build(inputs: dict[str, Path], out_dir: Path) -> None:
    """The model manager's ``derive`` hook: ``inputs[SOURCE_MODEL]`` is the fp32 model's directory."""
    quantize(Path(inputs[SOURCE_MODEL]) / SOURCE_FILE, Path(out_dir) / OUTPUT_FILE)


def main(argv: list[str] | None = None) -> int:
    from edge_agent.config import default_models_dir

    parser = argparse.ArgumentParser(description="Build the int8 Silero VAD (deterministic; prints its sha256 and size).")
    parser.add_argument("--src", type=Path, default=default_models_dir() / SOURCE_MODEL / SOURCE_FILE)
    parser.add_argument("--out", type=Path, default=Path(OUTPUT_FILE))
    args = parser.parse_args(argv)
    quantize(args.src, args.out)
    data = args.out.read_bytes()
    print(f"{args.out}: size = {len(data)}, sha256 = \"{hashlib.sha256(data).hexdigest()}\"")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
