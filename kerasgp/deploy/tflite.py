"""Keras 3 model -> TFLite flatbuffer (float32, dynamic-range or full-integer int8), and running it.

The path is the one that works with Keras 3 (lesson 12 lists the pitfalls): the model is exported
as a TensorFlow SavedModel with a fixed input signature of batch 1 and the model's own H, W, C, then
`tf.lite.TFLiteConverter.from_saved_model` converts it (`from_keras_model` breaks on Keras 3). The fixed
shape is what keeps Shape/StridedSlice ops out of the graph: every reshape is static at trace time.

Modes, as the TFLite post-training quantisation guide names them:
- "float32": no quantisation.
- "dynamic": dynamic-range quantisation, int8 weights, float activations.
- "int8": full-integer quantisation, `TFLITE_BUILTINS_INT8` only, int8 input and output, per-channel
  weights, activation ranges calibrated on representative inputs (crops of the training split, exactly
  as the Keras model takes them: RGB in [0, 1], see `calibration.representative_crops`). The ops of `float_layers`
  stay float between a dequantize and a quantize (selective quantisation, `mlir_quantize`'s denylist); by
  default those are SimCC's decoding and, for argmax, its logits (`float_decoding_layers`, which says why).

The conversion needs the TensorFlow backend. Under JAX or PyTorch, `convert` saves the model and
`convert_file` reloads the `.keras` file in a subprocess with `KERAS_BACKEND=tensorflow`. Running the
result needs only numpy and an interpreter: that is `kerasgp.deploy.runtime` (`run_tflite`, re-exported
here) and `kerasgp.deploy.bench`, which never load Keras; TensorFlow is imported inside the functions that
convert.
"""
from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..pose.decoding import SIMCC_X, SIMCC_Y, FlipTestMerge
from ..pose.estimator import load_keras
from ..pose.heads import SimCCDecode
from . import calibration
from .bench import make_interpreter, native_output_to
from .report import format_op_report, op_report
from .runtime import _content, _dequantise, _quantisation, _quantise, run_tflite  # noqa: F401

MODES = ("float32", "dynamic", "int8")
# Keras' SavedModel export names the outputs of a single tensor or a list/tuple output_0, output_1, ...
# in the order of `model.outputs`, and those of a dict output by their keys.


@dataclass
class Conversion:
    """A converted model. `output_details` follow the Keras model's output order; each names its
    signature output ("name", what `run_tflite` returns for a dict model) and its Keras output layer."""

    content: bytes = field(repr=False)
    mode: str
    path: Path | None
    input_details: list[dict]
    output_details: list[dict]
    op_report: dict

    @property
    def output_names(self) -> list[str]:
        return [d["name"] for d in self.output_details]

    def summary(self) -> str:
        where = f" -> {self.path}" if self.path else ""
        lines = [f"TFLite {self.mode}: {len(self.content):,} bytes{where}"]
        for kind, details in (("input ", self.input_details), ("output", self.output_details)):
            for d in details:
                keras_name = f" (Keras {d['keras_output']})" if d.get("keras_output") else ""
                quantised = f", scale {d['scale']:.6g}, zero point {d['zero_point']}" if d["scale"] else ""
                shape = "x".join(map(str, d["shape"]))
                lines.append(f"{kind} {d['name']}{keras_name}: {shape} {d['dtype']}{quantised}")
        return "\n".join(lines + [format_op_report(self.op_report)])


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _check_request(mode: str, representative, num_samples: int) -> None:
    check_mode(mode)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if mode == "int8" and representative is None:
        raise ValueError("int8 conversion calibrates activation ranges on representative inputs; pass "
                         "representative=kerasgp.deploy.representative_crops((width, height)) (training crops, RGB in "
                         "[0, 1]), an array (N, H, W, C) or a data set name such as 'lspet'")


def convert(model, mode: str = "float32", representative=None, num_samples: int = 200, out=None,
            float_layers=None) -> Conversion:
    """Convert a single-input Keras model with a concrete input shape to TFLite.

    representative (int8 only): an array (N, H, W, C), an iterable of arrays or of (inputs, targets)
    batches, a data set name ("lspet": training crops at the model's input size) or a `.npy` path; the
    first `num_samples` samples calibrate. out: where to write the `.tflite` (optional).
    float_layers (int8 only): Keras layers whose ops stay float, by name or by path through nested models
    ("inner_model/layer"), "decoding" or patterns (`expand_float_layers`); None: `float_decoding_layers`
    (SimCC's decoding), () for none. The op report
    lists their ops with the dequantize/quantize pairs around them.
    Under a backend other than TensorFlow the model is saved to a temporary `.keras` file and converted
    by `convert_file` in a TensorFlow subprocess.
    """
    _check_request(mode, representative, num_samples)
    import keras

    shape = _input_shape(model)
    # Resolved here, so that a wrong representative set fails before any export or subprocess.
    samples = calibration.samples(representative, num_samples, shape) if mode == "int8" else None
    if keras.backend.backend() != "tensorflow":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{model.name}.keras"
            model.save(path)
            return convert_file(path, mode, samples, num_samples, out, float_layers)
    content, outputs = _convert_tensorflow(model, mode, samples, num_samples, float_layers)
    return _conversion(content, mode, out, outputs, write=True)


def convert_file(keras_path, mode: str = "float32", representative=None, num_samples: int = 200,
                 out=None, float_layers=None) -> Conversion:
    """Convert a saved `.keras` model (e.g. trained under JAX or PyTorch). Under the TensorFlow backend it
    is loaded here; otherwise a subprocess with KERAS_BACKEND=tensorflow reloads and converts it, and
    this process only reads the result (no TensorFlow import). Arguments as in `convert`."""
    path = Path(keras_path)
    if path.suffix != ".keras":
        raise ValueError(f"convert_file takes a whole model saved as a .keras file; got {path}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .keras file")
    _check_request(mode, representative, num_samples)
    import keras

    if keras.backend.backend() == "tensorflow":
        return convert(load_keras(path), mode, representative, num_samples, out, float_layers)
    return _convert_in_subprocess(path, mode, representative, num_samples, out, float_layers)


def _input_shape(model) -> tuple:
    if len(model.inputs) != 1:
        raise ValueError(f"conversion handles single-input models; {model.name!r} has {len(model.inputs)} inputs")
    shape = tuple(model.inputs[0].shape)
    if any(d is None for d in shape[1:]):
        raise ValueError(f"{model.name!r} has the input shape {shape}; conversion needs a concrete (H, W, C), so that "
                         "no Shape/StridedSlice ops enter the graph: build the model with input_shape=(H, W, 3)")
    return (1,) + shape[1:]  # batch 1: the converted model runs one image per invoke


def _output_names(model) -> list[tuple[str, str]]:
    """(signature output name, Keras output layer name) pairs in the Keras model's output order."""
    if isinstance(model.output, dict):
        # Keras flattens a dict of outputs in sorted-key order, which is the order of output_names.
        return list(zip(sorted(model.output), model.output_names))
    return [(f"output_{i}", name) for i, name in enumerate(model.output_names)]


@contextlib.contextmanager
def _quiet_tensorflow():
    """Silence the export's INFO log ("Assets written to ...") and the converter's native prints
    ("fully_quantize: 0, ...", written by C++ straight to file descriptors 1 and 2), which would
    otherwise land in a lesson's stored outputs. The captured text is kept and attached to an error."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        with tempfile.TemporaryFile(mode="w+b") as captured, native_output_to(captured, fds=(1, 2)):
            yield captured
    finally:
        logger.setLevel(level)


def float_decoding_layers(model) -> list[str]:
    """The layers an int8 conversion keeps in float by default, as paths through nested models: SimCC's
    decoding (`SimCCDecode`), and for argmax decoding also the two linear layers that give it the logits;
    a flip test's merge of its two predictions (`FlipTestMerge`: int8 would round the keypoints to the
    output's scale, about 0.6 px at 160).

    Why, measured on the pose study's models (LSPET val, PCKh@0.5, float -> all-int8):
    - soft-argmax (sa_simdr_sigma6_rle, 36.14 -> 31.98): the softmax over k*W bins is spread out and int8
      holds each probability in steps of 1/256, so the tails round away unevenly and move the expectation.
      Its logits span about +-10 and are fine in int8 (0.07 a step): only the decoding stays float.
    - argmax (sa_simdr_sigma6, 34.97 -> 5.3 with the decoding in the graph): SA-SimDR's logits span hundreds
      of units and the calibrated range must hold 0, so the peaks land on a few int8 levels at the bottom of
      it; dozens of bins tie, and the int8 GREATER_EQUAL that finds them returned all-true there. The
      logits must stay float; `heads.peak_centre` then decodes a tie (rare in float) without bias.
    With these layers in float: 36.27 and 34.64 (results/deployment.csv). A linear layer whose output is
    also a model output (a training model's raw logits) is named after the output, not its layer, and
    stays int8.
    """
    found = []

    def visit(container, path):
        names = {layer.name for layer in container.layers}
        for layer in container.layers:
            if isinstance(layer, FlipTestMerge):  # the flip test's mean of two decoded predictions, in pixels
                found.append("/".join(path + [layer.name]))
            if isinstance(layer, SimCCDecode):
                # the decoding, and for argmax the two linear layers that give it the logits (SimCC's names)
                wanted = (SIMCC_X, SIMCC_Y, layer.name) if layer.mode == "argmax" else (layer.name,)
                found.extend("/".join(path + [name]) for name in wanted if name in names)
            if hasattr(layer, "layers"):  # a nested Functional model (a deployable wrapping a model)
                visit(layer, path + [layer.name])

    visit(model, [])
    return list(dict.fromkeys(found))


def _layer_nodes(content: bytes, layer_paths) -> list[str]:
    """Names of the op outputs of a (calibrated) flatbuffer that belong to the given Keras layers, each a
    name or a path "inner_model/layer" through nested models. The SavedModel export scopes an op as
    "model_1/inner_model_1/layer_1/Op" (each scope with a uniquifying suffix); a fused op's name joins the
    names of its parts with ";", and it belongs to a layer when any part does."""
    scope = lambda path: "/".join(rf"{re.escape(part)}(?:_\d+)?" for part in path.split("/"))  # noqa: E731
    pattern = re.compile("|".join(rf"(?:^|/){scope(path)}/" for path in layer_paths))
    interpreter = make_interpreter(content, xnnpack=False)
    tensors = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    nodes = [tensors[i] for op in interpreter._get_ops_details() for i in op["outputs"] if i >= 0]
    return [name for name in dict.fromkeys(nodes) if any(pattern.search(part) for part in name.split(";"))]


def _quantise_selectively(converter, model, float_layers) -> bytes:
    """Calibrate, then quantise everything but the ops of `float_layers` (what the TFLite quantization
    debugger's `denylisted_nodes` does, without building its instrumented model)."""
    from tensorflow.lite.python import convert as lite_convert

    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # noqa: SLF001 (the documented route to selective quantisation)
    calibrated = converter.convert()
    nodes = _layer_nodes(calibrated, float_layers)
    if not nodes:
        raise ValueError(f"float_layers {list(float_layers)} match no op of {model.name!r}; layer names: "
                         f"{sorted(_layer_names(model) - {model.name})[:20]}")
    return lite_convert.mlir_quantize(calibrated, disable_per_channel=False, fully_quantize=True,
                                      enable_numeric_verify=False, denylisted_nodes=nodes)


def _convert_tensorflow(model, mode: str, representative, num_samples: int, float_layers=None) -> tuple[bytes, list]:
    """(flatbuffer, output names) under the TensorFlow backend."""
    import tensorflow as tf

    shape = _input_shape(model)
    samples = calibration.samples(representative, num_samples, shape) if mode == "int8" else None
    if mode == "int8":
        float_layers = expand_float_layers(model, float_layers)
        known = _layer_names(model)
        unknown = sorted(path for path in float_layers if path.split("/")[-1] not in known)
        if unknown:
            raise ValueError(f"float_layers {unknown} are not layers of {model.name!r}")
    else:
        float_layers = []
    with tempfile.TemporaryDirectory() as tmp, _quiet_tensorflow() as captured:
        model.export(tmp, format="tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec(shape, model.inputs[0].dtype)])
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "int8":
            converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        try:
            content = _quantise_selectively(converter, model, float_layers) if float_layers else converter.convert()
        except Exception as error:  # ConverterError, or a RuntimeError from the quantiser
            captured.seek(0)
            native = captured.read().decode(errors="replace").strip()[-2000:]
            message = explain_failure(model, mode, error)
            raise ValueError(message + (f"\nconverter output:\n{native}" if native else "")) from error
    return content, _output_names(model)


def _layer_paths(model, path=()) -> list[str]:
    """Every layer as "inner_model/layer", through nested models, in graph order."""
    paths = []
    for layer in model.layers:
        paths.append("/".join((*path, layer.name)))
        if hasattr(layer, "layers"):
            paths += _layer_paths(layer, (*path, layer.name))
    return paths


def expand_float_layers(model, float_layers) -> list[str]:
    """The layer paths an int8 conversion keeps float: None gives `float_decoding_layers`; in a list, the
    word "decoding" stands for those, and a name with *, ? or [ ] is a pattern matched against every layer
    path (fnmatch: "mobilenet_v2_1.0/features_[0-6]_*" is the first seven blocks of that backbone)."""
    if float_layers is None:
        return float_decoding_layers(model)
    paths, expanded = None, []
    for entry in float_layers:
        if entry == "decoding":
            expanded += float_decoding_layers(model)
        elif any(c in entry for c in "*?["):
            paths = paths or _layer_paths(model)
            matched = fnmatch.filter(paths, entry)
            if not matched:
                raise ValueError(f"float_layers pattern {entry!r} matches no layer path of {model.name!r}; paths "
                                 f"look like {paths[1:4]}")
            expanded += matched
        else:
            expanded.append(entry)
    return list(dict.fromkeys(expanded))


def _layer_names(model) -> set[str]:
    """Every layer's name, through nested models (a backbone inside a pose model)."""
    return {path.rsplit("/", 1)[-1] for path in _layer_paths(model)}


def _deepest_layer(op_path: str, names: set[str]) -> str | None:
    # The SavedModel's op names are Keras name scopes, "model/backbone/stage2_0_shuffle_1/Reshape": each
    # scope is a layer name, with "_N" appended when Keras made the scope unique.
    found = None
    for part in op_path.split("/"):
        base = part if part in names else re.sub(r"_\d+$", "", part)
        if base in names:
            found = base
    return found


def explain_failure(model, mode: str, error: Exception) -> str:
    """A message that names the Keras layer(s) whose ops did not convert, then the converter's own."""
    text = str(error)
    failing = set(re.findall(r"'tf\.(\w+)' op", text))
    for listed in re.findall(r"(?:Custom|Flex|TF Select) ops: ([^\n]+)", text):
        failing |= {op.strip() for op in listed.split(",")}
    located = re.findall(r'fused\["(\w+):", "([^"@]+)', text)  # (op type, op path) in the MLIR locations
    paths = [path for op, path in located if op in failing] or [path for _, path in located]
    names = _layer_names(model) - {model.name}
    layers = list(dict.fromkeys(filter(None, (_deepest_layer(p, names) for p in paths))))
    where = (f"in layer(s) {', '.join(layers)}" if layers
             else "(the converter's message names no Keras layer of the model)")
    ops = f"ops {', '.join(sorted(failing))} " if failing else ""
    if len(text) > 6000:
        text = text[:6000] + "\n... (truncated; the full error is chained below)"
    return f"TFLite {mode} conversion of {model.name!r} failed: {ops}{where}. The converter said:\n{text}"


_WORKER = "import sys; from kerasgp.deploy.tflite import _worker; raise SystemExit(_worker(sys.argv[1]))"


def _convert_in_subprocess(path: Path, mode: str, representative, num_samples: int, out,
                           float_layers=None) -> Conversion:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        target = Path(out) if out else tmp / "model.tflite"
        if mode != "int8":
            representative = None
        elif not isinstance(representative, str):  # arrays travel as a .npy file; names are resolved there
            np.save(tmp / "representative.npy", calibration.collect(representative, num_samples))
            representative = str(tmp / "representative.npy")
        job = {"model": str(path.resolve()), "mode": mode, "representative": representative,
               "num_samples": num_samples, "out": str(target.resolve()), "result": str(tmp / "result.json"),
               "float_layers": None if float_layers is None else list(float_layers)}
        (tmp / "job.json").write_text(json.dumps(job))
        package_root = str(Path(__file__).resolve().parents[2])  # works from a checkout that is not installed
        env = {**os.environ, "KERAS_BACKEND": "tensorflow",
               "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        proc = subprocess.run([sys.executable, "-c", _WORKER, str(tmp / "job.json")], env=env, capture_output=True,
                              text=True)
        result_path = tmp / "result.json"
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        if "error" in result:
            raise ValueError(result["error"])
        if proc.returncode != 0 or "outputs" not in result:
            raise RuntimeError(f"the TensorFlow-backend conversion subprocess failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-4000:]}")
        content = target.read_bytes()
    return _conversion(content, mode, out, [tuple(pair) for pair in result["outputs"]], write=False)


def _worker(job_path: str) -> int:
    """The subprocess side of `convert_file`: load under TensorFlow, convert, write the flatbuffer and a
    JSON result (the output names, or the error message that the parent raises as a ValueError)."""
    job = json.loads(Path(job_path).read_text())
    try:
        model = load_keras(job["model"])
        content, outputs = _convert_tensorflow(model, job["mode"], job["representative"], job["num_samples"],
                                               job.get("float_layers"))
        Path(job["out"]).parent.mkdir(parents=True, exist_ok=True)
        Path(job["out"]).write_bytes(content)
        result, code = {"outputs": outputs}, 0
    except (ValueError, FileNotFoundError) as error:
        result, code = {"error": str(error)}, 2
    Path(job["result"]).write_text(json.dumps(result))
    return code


def _describe(name: str, detail: dict, keras_output: str | None = None) -> dict:
    scale, zero_point = _quantisation(detail)
    described = {"name": name, "tensor": detail["name"], "shape": [int(d) for d in detail["shape"]],
                 "dtype": np.dtype(detail["dtype"]).name, "scale": scale, "zero_point": zero_point}
    if keras_output is not None:
        described["keras_output"] = keras_output
    return described


def _conversion(content: bytes, mode: str, out, outputs: list[tuple[str, str]], write: bool) -> Conversion:
    if out is not None and write:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(content)
    runner = make_interpreter(content, xnnpack=False).get_signature_runner()
    inputs, signature_outputs = runner.get_input_details(), runner.get_output_details()
    if sorted(signature_outputs) != sorted(name for name, _ in outputs):
        raise RuntimeError(f"the converted model's outputs {sorted(signature_outputs)} are not the Keras model's "
                           f"{[name for name, _ in outputs]}; the output order cannot be recovered")
    return Conversion(content=content, mode=mode, path=Path(out) if out is not None else None,
                      input_details=[_describe(name, d) for name, d in inputs.items()],
                      output_details=[_describe(name, signature_outputs[name], keras) for name, keras in outputs],
                      op_report=op_report(content))
