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
  the row's argmax, or ``p >= 0.5`` for a single sigmoid output -- as int64, or as the
  model's class names (strings) when it has names other than ``0 .. k-1``; and
  ``probabilities`` (N, n_outputs), what [`Network.forward`][xpnet.network.Network.forward] returns.
  Otherwise one output, ``outputs`` (N, n_outputs).

A model under a mixed precision policy ([`xpnet.precision`][xpnet.precision]) exports its float32
master weights, and its graph computes in float32: the graph's outputs are those of
``net.to(precision="32")``, and differ from the model's own bfloat16 or float16 forward pass by
about that dtype's rounding.

Opset 18 and IR version 8: ONNX Runtime has loaded these since 1.14 (2023), and every operator
used here has had the same meaning since opset 13. Needs ``pip install "xpnet[onnx]"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes
from .backend import to_numpy
from .labels import are_indices, label_values

OPSET = 18
IR_VERSION = 8

# activation name -> ONNX operator, for those with no parameter
_PLAIN = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "identity": None}


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

    onnx = _onnx()
    g = _Graph(onnx, np.float64 if net.dtype_name == "float64" else np.float32)
    current = g.scaling("features", net.preprocessing)
    current = g.layers(current, net.layers)
    outputs = g.outputs(current, net)
    helper = onnx.helper
    graph = helper.make_graph(
        g.nodes, "xpnet", [helper.make_tensor_value_info("features", g.elem,
                                                          ["N", net.n_inputs])],
        outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="xpnet",
                              producer_version=__version__,
                              doc_string=f"{net!r}, exported by xpnet {__version__}")
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        write_bytes(Path(path), model.SerializeToString())
    return model


class _Graph:
    """The nodes and initialisers of the graph being built, in the network's dtype."""

    def __init__(self, onnx: Any, np_dtype: Any):
        self.onnx, self.helper, self.np_dtype = onnx, onnx.helper, np_dtype
        self.elem = onnx.TensorProto.DOUBLE if np_dtype is np.float64 else onnx.TensorProto.FLOAT
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: Any, dtype: Any = None) -> str:
        array = np.asarray(value, dtype=self.np_dtype if dtype is None else dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], **attrs))
        return output

    def scaling(self, current: str, scaler: Any) -> str:
        """``(X - shift) / scale``, the input preprocessing the model carries."""
        if scaler is None or scaler.kind == "none" or scaler.shift is None:
            return current
        if np.any(scaler.shift != 0):
            current = self.node("Sub", [current, self.const("scaling.shift", scaler.shift)],
                                "scaling.centred")
        return self.node("Div", [current, self.const("scaling.scale", scaler.scale)],
                         "scaling.out")

    def layers(self, current: str, layers: list[Any]) -> str:
        """``Gemm`` and the activation of each Dense layer (dropout is the identity)."""
        from .layers import Dense

        for i, layer in enumerate(layers):
            if isinstance(layer, Dense):
                W = self.const(f"layers.{i}.W", to_numpy(layer.W))
                b = self.const(f"layers.{i}.b", to_numpy(layer.b))
                current = self.node("Gemm", [current, W, b], f"layers.{i}.Z")
                current = self.activation(current, layer.activation, f"layers.{i}")
        return current

    def activation(self, current: str, act: Any, prefix: str) -> str:
        A = f"{prefix}.A"
        if act.name in _PLAIN:
            op = _PLAIN[act.name]
            return current if op is None else self.node(op, [current], A)
        if act.name == "softmax":
            return self.node("Softmax", [current], A, axis=-1)
        if act.name == "leaky_relu":
            slope = self.const(f"{prefix}.alpha", [act.params["alpha"]])
            return self.node("PRelu", [current, slope], A)
        if act.name == "elu":
            alpha = float(act.params["alpha"])
            if self.np_dtype is np.float32 or float(np.float32(alpha)) == alpha:
                return self.node("Elu", [current], A, alpha=alpha)
            # Relu(Z) + alpha * Min(Elu_1(Z), 0), alpha in float64
            p = f"{prefix}.elu"
            pos = self.node("Relu", [current], f"{p}.pos")
            unit = self.node("Elu", [current], f"{p}.unit", alpha=1.0)
            neg = self.node("Min", [unit, self.const(f"{p}.zero", 0.0)], f"{p}.neg")
            scaled = self.node("Mul", [neg, self.const(f"{p}.alpha", alpha)], f"{p}.scaled")
            return self.node("Add", [pos, scaled], A)
        raise ValueError(f"no ONNX operator for the activation {act.name!r}")

    def outputs(self, current: str, net: Any) -> list[Any]:
        """A classifier's ``label`` and ``probabilities``, or a regressor's ``outputs``."""
        make, k = self.helper.make_tensor_value_info, net.n_outputs
        if not net.is_classifier:
            self.node("Identity", [current], "outputs")
            return [make("outputs", self.elem, ["N", k])]
        int64 = self.onnx.TensorProto.INT64
        self.node("Identity", [current], "probabilities")
        if k == 1:   # p >= 0.5, as int64, one per row
            positive = self.node("GreaterOrEqual", [current, self.const("half", 0.5)],
                                 "label.positive")
            column = self.node("Cast", [positive], "label.column", to=int64)
            self.node("Squeeze", [column, self.const("axis1", [1], np.int64)], "label.index")
        else:
            self.node("ArgMax", [current], "label.index", axis=1, keepdims=0)
        label_type = int64
        values = label_values(net.class_names)   # the labels xpnet's predict answers with
        if are_indices(values):
            self.node("Identity", ["label.index"], "label")
        else:
            assert values is not None
            if values.dtype.kind != "i":
                values = values.astype(object)
                label_type = self.onnx.TensorProto.STRING
            self.inits.append(self.onnx.numpy_helper.from_array(values, "class_names"))
            self.node("Gather", ["class_names", "label.index"], "label", axis=0)
        return [make("label", label_type, ["N"]), make("probabilities", self.elem, ["N", k])]
