"""``xpnet export``: a saved model written as ONNX, safetensors or .npz."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError, say


def cmd_export(args: argparse.Namespace) -> int:
    from .. import loading

    out = Path(args.out)
    if out.suffix not in (".onnx", ".safetensors", ".npz"):
        raise UsageError(f"{out}: name the output .onnx, .safetensors or .npz")
    net = loading.load(args.model, backend="numpy", precision="32")   # float32 master weights
    try:
        if out.suffix == ".onnx":
            from ..export import IR_VERSION, OPSET

            net.to_onnx(out)
            what = f"ONNX (opset {OPSET}, IR version {IR_VERSION})"
        else:
            net.save(out)
            what = out.suffix[1:]
    except ImportError as exc:  # the optional extra that format needs
        raise UsageError(str(exc)) from None
    say(args, f"wrote {out}: {net!r} as {what}")
    return 0
