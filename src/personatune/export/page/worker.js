// The model lives here, in a module worker: the page stays responsive while a long prompt is read,
// and the KV cache never crosses between threads (onnxruntime-web's own proxy copies it both ways
// on every token, which halved decoding speed at a 1,100-token prompt). The page sends token ids
// and settings; this worker streams text back and answers with the tokens and their timing.
import {
  env, AutoTokenizer, AutoModelForCausalLM, TextStreamer, LogitsProcessor, InterruptableStoppingCriteria, Tensor,
  ones_like,
} from "./vendor/transformers.min.js";

let tokenizer = null;
let model = null;
let stopper = null;
let eos = new Set();

// The penalty looks only at the answer's own tokens: the system message and the question stay
// quotable (the same rule as the Python backends).
class AnswerRepetitionPenalty extends LogitsProcessor {
  constructor(penalty, promptLength) { super(); this.penalty = penalty; this.promptLength = promptLength; }
  _call(inputIds, logits) {
    for (let i = 0; i < inputIds.length; ++i) {
      const data = logits[i].data;
      for (const id of new Set(inputIds[i].slice(this.promptLength))) {
        const t = Number(id);
        data[t] = data[t] < 0 ? data[t] * this.penalty : data[t] / this.penalty;
      }
    }
    return logits;
  }
}

async function pickDevice(choice) {
  if (choice !== "auto") return choice;
  try {
    if (navigator.gpu && (await navigator.gpu.requestAdapter())) return "webgpu";
  } catch {}
  return "wasm";
}

async function load({ dtype, device: choice, modelPath, wasmPaths, eosTokenIds }) {
  // Everything from this folder: no model hub, no CDN. A path, not a URL: transformers.js treats
  // http(s) URLs as remote, and remote models are off.
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = modelPath;
  env.useBrowserCache = false;  // the service worker caches every file
  env.backends.onnx.wasm.wasmPaths = wasmPaths;
  env.backends.onnx.wasm.proxy = false;  // this is the worker already
  eos = new Set(eosTokenIds);
  const device = await pickDevice(choice);
  const files = new Map();
  const progress_callback = (p) => {
    if (p.status !== "progress" || !p.total) return;
    files.set(p.file, [p.loaded, p.total]);
    let loaded = 0, total = 0;
    for (const [l, t] of files.values()) { loaded += l; total += t; }
    postMessage({ type: "progress", loaded, total });
  };
  tokenizer ??= await AutoTokenizer.from_pretrained("persona");
  if (model) await model.dispose();
  model = null;
  try {
    model = await AutoModelForCausalLM.from_pretrained("persona", { dtype, device, progress_callback });
  } catch (err) {
    if (device !== "webgpu" || choice !== "auto") throw err;
    model = await AutoModelForCausalLM.from_pretrained("persona", { dtype, device: "wasm", progress_callback });
    return { device: "wasm" };
  }
  return { device };
}

function tokenize({ messages }) {
  const inputs = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, return_dict: true });
  return { ids: Array.from(inputs.input_ids.data, Number) };
}

// Greedy when temperature is 0; the streamer reports text as whole words become decodable.
async function generate({ id, ids, settings }) {
  const input = new Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
  const processors = settings.repetition_penalty > 1
    ? [new AnswerRepetitionPenalty(settings.repetition_penalty, ids.length)] : [];
  const tokens = [];
  let first = null;
  const streamer = new TextStreamer(tokenizer, {
    skip_prompt: true, skip_special_tokens: true,
    callback_function: (piece) => postMessage({ type: "text", id, piece }),
    token_callback_function: (out) => { first ??= performance.now(); tokens.push(...out.map(Number)); },
  });
  stopper = new InterruptableStoppingCriteria();
  const sample = settings.temperature > 0;
  const started = performance.now();
  await model.generate({
    input_ids: input, attention_mask: ones_like(input), max_new_tokens: settings.max_new_tokens,
    min_new_tokens: settings.min_new_tokens ?? null,
    do_sample: sample, temperature: sample ? settings.temperature : null, top_p: sample ? settings.top_p : null,
    top_k: sample ? 0 : null, repetition_penalty: 1.0, logits_processor: processors, streamer,
    stopping_criteria: stopper,
  });
  stopper = null;
  while (tokens.length && eos.has(tokens.at(-1))) tokens.pop();
  const end = performance.now();
  const decodeSeconds = first ? (end - first) / 1000 : (end - started) / 1000;
  return {
    tokens, text: tokenizer.decode(tokens, { skip_special_tokens: true }), seconds: (end - started) / 1000,
    promptTokens: ids.length, firstTokenSeconds: first ? (first - started) / 1000 : null,
    tokensPerSecond: tokens.length > 1 ? (tokens.length - 1) / decodeSeconds : null,
  };
}

const handlers = { load, tokenize, generate };

self.onmessage = async ({ data }) => {
  if (data.type === "stop") {
    stopper?.interrupt();
    return;
  }
  try {
    postMessage({ type: "result", id: data.id, result: await handlers[data.type](data) });
  } catch (err) {
    postMessage({ type: "result", id: data.id, error: String(err?.message ?? err) });
  }
};
