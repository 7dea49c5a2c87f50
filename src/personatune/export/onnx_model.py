"""The merged model as one ONNX graph with an explicit KV cache, the layout transformers.js runs.

    inputs   input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64,
             past_key_values.{i}.key / .value [batch, kv_heads, past, head_dim] float32
    outputs  logits [batch, seq, vocab] float32, present.{i}.key / .value [batch, kv_heads, past+seq, head_dim]

Positions are computed inside the graph from the attention mask (cumulative sum - 1), so left
padding works and no runtime has to agree with us on where positions start. The layers call the
Hugging Face modules themselves (norms, MLP, projections, embedding scale); only attention and the
cache are written here, so an architecture detail cannot be re-implemented wrongly. Rotary tables
come from the model's own rotary embedding, evaluated once for every position up to the context.

Files are written in place: the browser export builds its whole folder under a temporary name and
swaps it in at the end (artifacts.atomic_dir), so no single file needs its own rename.

Supported: Llama-family decoders (SmolLM2) and Gemma 3 text models (q/k norms, sliding-window
layers with their own rotary base, sandwich norms).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from personatune.errors import UserError

SUPPORTED = ("llama", "gemma3_text")  # the layouts checked against PyTorch by the tests
# rotary tables are precomputed up to this many positions (the browser page's window is smaller)
MAX_POSITIONS = 4096
OPSET = 18
MAX_ONNX_BYTES = 2_000_000_000  # protobuf's limit for one file with the weights inside


def max_positions(config) -> int:
    """Positions the graph's rotary tables cover: the longest prompt + answer the export can take."""
    return min(int(getattr(config, "max_position_embeddings", None) or MAX_POSITIONS), MAX_POSITIONS)


def cache_shape(config) -> tuple[int, int]:
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_key_value_heads, head_dim


def _layer_types(config) -> list[str]:
    types = getattr(config, "layer_types", None)
    return list(types) if types else ["full_attention"] * config.num_hidden_layers


def _rotary_tables(model, positions: int) -> dict[str, tuple]:
    import torch

    inner = model.model
    pos = torch.arange(positions)[None]
    probe = torch.zeros(1, dtype=torch.float32)
    tables = {}
    for kind in sorted(set(_layer_types(model.config))):
        try:
            cos, sin = inner.rotary_emb(probe, pos, kind)
        except TypeError:
            cos, sin = inner.rotary_emb(probe, pos)
        tables[kind] = (cos[0].float(), sin[0].float())
    return tables


def _rotate_half(x):
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def decoder_module(model):
    """A torch module with the cache as plain tensors in and out, ready for torch.onnx.export."""
    import torch
    from torch import nn

    config = model.config
    if config.model_type not in SUPPORTED:
        raise UserError(f"browser export supports {', '.join(SUPPORTED)} models; this one is "
                        f"{config.model_type!r}")
    kv_heads, head_dim = cache_shape(config)
    heads = config.num_attention_heads
    positions = max_positions(config)
    layer_types = _layer_types(config)
    gemma = config.model_type == "gemma3_text"

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            for kind, (cos, sin) in _rotary_tables(model, positions).items():
                self.register_buffer(f"cos_{kind}", cos, persistent=False)
                self.register_buffer(f"sin_{kind}", sin, persistent=False)

        def attention(self, layer, hidden, cos, sin, past_k, past_v, allowed):
            attn = layer.self_attn
            batch, seq, _ = hidden.shape
            q = attn.q_proj(hidden).view(batch, seq, heads, head_dim).transpose(1, 2)
            k = attn.k_proj(hidden).view(batch, seq, kv_heads, head_dim).transpose(1, 2)
            v = attn.v_proj(hidden).view(batch, seq, kv_heads, head_dim).transpose(1, 2)
            if hasattr(attn, "q_norm"):
                q, k = attn.q_norm(q), attn.k_norm(k)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
            groups = heads // kv_heads
            k_all = k.repeat_interleave(groups, dim=1) if groups > 1 else k
            v_all = v.repeat_interleave(groups, dim=1) if groups > 1 else v
            scaling = getattr(attn, "scaling", head_dim ** -0.5)
            scores = torch.matmul(q, k_all.transpose(2, 3)) * scaling
            scores = scores.masked_fill(~allowed, torch.finfo(torch.float32).min)
            probs = torch.softmax(scores, dim=-1)
            out = torch.matmul(probs, v_all).transpose(1, 2).reshape(batch, seq, heads * head_dim)
            return attn.o_proj(out), k, v

        def forward(self, input_ids, attention_mask, *past):
            inner = self.model.model
            seq = input_ids.shape[1]
            total = attention_mask.shape[1]
            position_ids = (torch.cumsum(attention_mask, dim=1) - 1).clamp(min=0)[:, total - seq:]
            key_pos = torch.arange(total, device=input_ids.device)
            query_pos = key_pos[total - seq:]
            causal = key_pos[None, :] <= query_pos[:, None]
            padding = attention_mask[:, None, None, :].bool()
            hidden = inner.embed_tokens(input_ids)
            presents = []
            for i, layer in enumerate(inner.layers):
                kind = layer_types[i]
                allowed = causal
                window = getattr(layer.self_attn, "sliding_window", None) if kind == "sliding_attention" else None
                if window:
                    allowed = allowed & (query_pos[:, None] - key_pos[None, :] < window)
                allowed = allowed[None, None] & padding
                cos = getattr(self, f"cos_{kind}")[position_ids][:, None]
                sin = getattr(self, f"sin_{kind}")[position_ids][:, None]
                residual = hidden
                out, k, v = self.attention(layer, layer.input_layernorm(hidden), cos, sin, past[2 * i],
                                           past[2 * i + 1], allowed)
                if gemma:
                    hidden = residual + layer.post_attention_layernorm(out)
                    residual = hidden
                    hidden = residual + layer.post_feedforward_layernorm(
                        layer.mlp(layer.pre_feedforward_layernorm(hidden)))
                else:
                    hidden = residual + out
                    hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
                presents += [k, v]
            hidden = inner.norm(hidden)
            head = self.model.lm_head
            if head.weight is inner.embed_tokens.weight and head.bias is None:
                # tied: a 2-D linear exports as Gemm(transB=1) over the embedding itself, so the file holds
                # the table once (a MatMul would get its own transposed copy)
                batch, seq, width = hidden.shape
                logits = nn.functional.linear(hidden.reshape(batch * seq, width), head.weight)
                logits = logits.reshape(batch, seq, -1)
            else:
                logits = head(hidden)
            cap = getattr(self.model.config, "final_logit_softcapping", None)
            if cap:
                logits = torch.tanh(logits / cap) * cap
            return (logits, *presents)

    return Decoder().eval()


def io_names(layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", *past], ["logits", *present]


def export_onnx(model, path: Path, log=print) -> Path:
    """Write the fp32 graph (weights inside the one .onnx file, as transformers.js expects below 2 GB)."""
    import torch

    config = model.config
    params = sum(p.numel() for p in model.parameters())
    if params * 4 > MAX_ONNX_BYTES:
        raise UserError(f"the model has {params / 1e6:.0f}M parameters: {params * 4 / 2**30:.1f} GiB in fp32, over "
                        "the 2 GB a single ONNX file can hold (and more than a browser tab handles well); export a "
                        "smaller base model for the browser, or use the GGUF export")
    layers = config.num_hidden_layers
    kv_heads, head_dim = cache_shape(config)
    module = decoder_module(model)
    inputs, outputs = io_names(layers)
    batch, seq, past = 2, 3, 4   # not 0 or 1: the exporter would specialise those sizes
    example = (torch.ones(batch, seq, dtype=torch.long), torch.ones(batch, past + seq, dtype=torch.long),
               *[torch.zeros(batch, kv_heads, past, head_dim) for _ in range(2 * layers)])
    dynamic_axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
                    "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
                    "logits": {0: "batch_size", 1: "sequence_length"}}
    for name in inputs[2:]:
        dynamic_axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in outputs[1:]:
        dynamic_axes[name] = {0: "batch_size", 2: "total_sequence_length"}
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"tracing the decoder to ONNX ({params / 1e6:.0f}M parameters)")
    with torch.no_grad():
        torch.onnx.export(module, example, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False,
                          do_constant_folding=False)
    fold_weight_transposes(path)
    return path


def fold_weight_transposes(path: Path) -> None:
    """Store each projection's weight pre-transposed instead of transposing it at run time.

    Constant folding is off in the export so the tied embedding is stored once (folding would give
    the output head its own transposed copy); this pass does the folding that is wanted: a weight
    read only by a Transpose becomes the transposed weight, so the quantizer sees MatMul(x, W)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    kept, renamed = [], {}
    for node in graph.node:
        source = node.input[0] if node.input else None
        if node.op_type == "Transpose" and source in weights and readers[source] == 1:
            array = numpy_helper.to_array(weights.pop(source))
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            folded = numpy_helper.from_array(np.ascontiguousarray(array.transpose(perm)), name=source + ".T")
            weights[folded.name] = folded
            renamed[node.output[0]] = folded.name
            continue
        kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(weights.values())
    onnx.save(model, str(path))


def half_weights(source: Path, path: Path, log=print) -> Path:
    """The same graph with its weight matrices stored as fp16, each read through a Cast to fp32.

    Half the download; onnxruntime folds the casts when the session starts, so the browser computes
    in fp32 exactly as the full file does, from weights rounded once to fp16 (as GGUF f16 does)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    log(f"writing {path.name} (fp16 weights, fp32 compute)")
    model = onnx.load(str(source))
    graph = model.graph
    casts, kept = [], []
    for weight in graph.initializer:
        if weight.data_type == TensorProto.FLOAT and len(weight.dims) == 2 and min(weight.dims) > 256:
            half = numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), weight.name + ".fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [weight.name], to=TensorProto.FLOAT,
                                          name=f"cast/{weight.name}"))
        else:
            kept.append(weight)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))
    return path


class OnnxDecoder:
    """Greedy decoding with onnxruntime over the exported graph: the Python side of the parity check."""

    def __init__(self, path: Path, config, eos_ids: list[int], threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.layers = config.num_hidden_layers
        self.kv_heads, self.head_dim = cache_shape(config)
        self.eos = set(eos_ids)

    def greedy_ids(self, prompt: list[int], tokens: int) -> list[int]:
        """The first `tokens` greedy tokens; stops at end of turn, which is not returned (as HFEngine)."""
        ids = np.array([prompt], dtype=np.int64)
        mask = np.ones_like(ids)
        past = {f"past_key_values.{i}.{kv}": np.zeros((1, self.kv_heads, 0, self.head_dim), np.float32)
                for i in range(self.layers) for kv in ("key", "value")}
        out: list[int] = []
        for _ in range(tokens):
            logits, *presents = self.session.run(None, {"input_ids": ids, "attention_mask": mask, **past})
            token = int(np.argmax(logits[0, -1]))
            if token in self.eos:
                break
            out.append(token)
            past = dict(zip(past, presents))
            ids = np.array([[token]], dtype=np.int64)
            mask = np.concatenate([mask, np.ones((1, 1), np.int64)], axis=1)
        return out


def describe(config) -> str:
    kv_heads, head_dim = cache_shape(config)
    kv_per_token = 2 * config.num_hidden_layers * kv_heads * head_dim * 4
    return (f"{config.model_type}, {config.num_hidden_layers} layers, KV cache "
            f"{kv_per_token / 1024:.0f} KiB per token, {math.ceil(kv_per_token * 1024 / 2**20)} MiB per 1k tokens")
