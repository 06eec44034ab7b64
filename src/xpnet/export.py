"""ONNX export: the network in inference mode as an ONNX graph, for ONNX Runtime and the rest.

The graph, batch dimension dynamic (``N``), in the model's dtype (float32, or float64):

* input ``features`` (N, n_inputs): raw rows when the model carries its fitted input scaling,
  which then opens the graph as ``Sub`` (shift) and ``Div`` (scale), ``x' = (x - shift)/scale``;
  otherwise rows scaled as the model was trained on;
* each Dense layer as ``Gemm``: ``Z = A @ W + b``; its activation as the ONNX operator of the same
  maths (``Relu``, ``Sigmoid``, ``Tanh``, ``Softmax`` over the last axis, ``Elu``; leaky ReLU as
  ``PRelu`` with its slope as a tensor of the model's dtype, since ONNX attributes are float32
  and ``alpha = 0.01`` in float32 would move a float64 model's outputs by 1e-10; likewise an ELU
  whose alpha float32 cannot hold becomes ``Relu(Z) + alpha * Min(Elu(Z), 0)`` in float64;
  identity adds nothing); dropout is the identity at inference and leaves no trace;
* outputs, for a classifier (softmax or sigmoid output): ``label`` (N,), the predicted class --
  the row's argmax, or ``p >= 0.5`` for a single sigmoid output -- as int64, or as the model's
  class names (strings) when it has them; and ``probabilities`` (N, n_outputs), what
  :meth:`Network.forward` returns. Otherwise one output, ``outputs`` (N, n_outputs).

Opset 18 and IR version 8: ONNX Runtime has loaded these since 1.14 (2023), and every operator
used here has had the same meaning since opset 13. Needs ``pip install "xpnet[onnx]"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes
from .backend import to_numpy

OPSET = 18
IR_VERSION = 8

# activation name -> ONNX operator, for those with no parameter
_PLAIN = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": None}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs onnx: pip install "xpnet[onnx]" (onnx and '
                          "onnxruntime)") from None
    return onnx


def to_onnx(net: Any, path: str | Path | None = None) -> Any:
    """The ONNX ``ModelProto`` of ``net`` (see the module docstring); with ``path``, also
    written there atomically. The model passes ``onnx.checker.check_model(full_check=True)``
    before it is returned."""
    from . import __version__
    from .layers import Dense

    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    np_dtype = np.float64 if net.dtype_name == "float64" else np.float32
    elem = onnx.TensorProto.DOUBLE if np_dtype is np.float64 else onnx.TensorProto.FLOAT
    nodes, inits = [], []

    def const(name: str, value: Any, dtype: Any = np_dtype) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    current = "features"
    scaler = net.preprocessing
    if scaler is not None and scaler.kind != "none" and scaler.shift is not None:
        if np.any(scaler.shift != 0):
            nodes.append(helper.make_node("Sub", [current, const("scaling.shift", scaler.shift)],
                                          ["scaling.centred"]))
            current = "scaling.centred"
        nodes.append(helper.make_node("Div", [current, const("scaling.scale", scaler.scale)],
                                      ["scaling.out"]))
        current = "scaling.out"
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, Dense):
            continue   # dropout: the identity at inference
        W, b = const(f"layers.{i}.W", to_numpy(layer.W)), const(f"layers.{i}.b", to_numpy(layer.b))
        nodes.append(helper.make_node("Gemm", [current, W, b], [f"layers.{i}.Z"]))
        current = f"layers.{i}.Z"
        act = layer.activation
        A = f"layers.{i}.A"
        if act.name in _PLAIN:
            if _PLAIN[act.name] is not None:
                nodes.append(helper.make_node(_PLAIN[act.name], [current], [A]))
                current = A
            continue
        if act.name == "softmax":
            nodes.append(helper.make_node("Softmax", [current], [A], axis=-1))
        elif act.name == "leaky_relu":
            slope = const(f"layers.{i}.alpha", [act.params["alpha"]])
            nodes.append(helper.make_node("PRelu", [current, slope], [A]))
        elif act.name == "elu":
            alpha = float(act.params["alpha"])
            if np_dtype is np.float32 or float(np.float32(alpha)) == alpha:
                nodes.append(helper.make_node("Elu", [current], [A], alpha=alpha))
            else:   # Relu(Z) + alpha * Min(Elu_1(Z), 0), alpha in float64
                p = f"layers.{i}.elu"
                nodes += [
                    helper.make_node("Relu", [current], [f"{p}.pos"]),
                    helper.make_node("Elu", [current], [f"{p}.unit"], alpha=1.0),
                    helper.make_node("Min", [f"{p}.unit", const(f"{p}.zero", 0.0)],
                                     [f"{p}.neg"]),
                    helper.make_node("Mul", [f"{p}.neg", const(f"{p}.alpha", alpha)],
                                     [f"{p}.scaled"]),
                    helper.make_node("Add", [f"{p}.pos", f"{p}.scaled"], [A])]
        else:
            raise ValueError(f"no ONNX operator for the activation {act.name!r}")
        current = A

    k = net.n_outputs
    classifier = net.is_classifier
    outputs = []
    if classifier:
        nodes.append(helper.make_node("Identity", [current], ["probabilities"]))
        if k == 1:   # p >= 0.5, as int64, one per row
            nodes += [helper.make_node("GreaterOrEqual", [current, const("half", 0.5)],
                                       ["label.positive"]),
                      helper.make_node("Cast", ["label.positive"], ["label.column"],
                                       to=onnx.TensorProto.INT64),
                      helper.make_node("Squeeze", ["label.column", const("axis1", [1], np.int64)],
                                       ["label.index"])]
        else:
            nodes.append(helper.make_node("ArgMax", [current], ["label.index"], axis=1,
                                          keepdims=0))
        label_type = onnx.TensorProto.INT64
        if net.class_names is not None:
            names = np.array([str(n) for n in net.class_names], dtype=object)
            inits.append(numpy_helper.from_array(names, "class_names"))
            nodes.append(helper.make_node("Gather", ["class_names", "label.index"], ["label"],
                                          axis=0))
            label_type = onnx.TensorProto.STRING
        else:
            nodes.append(helper.make_node("Identity", ["label.index"], ["label"]))
        outputs = [helper.make_tensor_value_info("label", label_type, ["N"]),
                   helper.make_tensor_value_info("probabilities", elem, ["N", k])]
    else:
        nodes.append(helper.make_node("Identity", [current], ["outputs"]))
        outputs = [helper.make_tensor_value_info("outputs", elem, ["N", k])]

    graph = helper.make_graph(
        nodes, "xpnet", [helper.make_tensor_value_info("features", elem, ["N", net.n_inputs])],
        outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="xpnet",
                              producer_version=__version__,
                              doc_string=f"{net!r}, exported by xpnet {__version__}")
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        write_bytes(Path(path), model.SerializeToString())
    return model
