"""The `personatune` command: parses arguments and calls `commands`, one function per command.

Nothing else lives here; importing it loads no model library, so `personatune --help` is quick.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from personatune import __version__
from personatune.cli import commands
from personatune.errors import UserError
from personatune.settings import add_flags


def _stage_names() -> list[str]:
    from personatune.workspace import STAGE_NAMES

    return STAGE_NAMES


def _add_bind_flags(p: argparse.ArgumentParser, port: int) -> None:
    """Where a local web server listens: loopback unless the user says otherwise."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=port, help="port (default: %(default)s; 0 = any free port)")
    p.add_argument("--allow-remote", action="store_true", help="required to bind an address other than loopback")


def build_parser() -> argparse.ArgumentParser:
    from personatune.data.runner import STAGES

    parser = argparse.ArgumentParser(prog="personatune", description="Turn one person's own material into a small "
                                     "local model that answers as that person.")
    parser.add_argument("--version", action="version", version=f"personatune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a workspace: DIR/persona.yaml pointing at the sources")
    p.add_argument("dir", help="workspace folder (created if missing)")
    p.add_argument("--sources", nargs="+", required=True, metavar="PATH", help="files or folders of transcripts/posts")
    p.add_argument("--name", help="the person's name (default: the folder name)")
    p.add_argument("--base-model", default="smollm2-135m-instruct", help="model name, local folder, .gguf or hub id")
    p.add_argument("--gold-labels", help="JSONL of passages known to be persona (for precision/recall)")
    p.add_argument("--probes", help="YAML of identity/opinion probes and does_not_have facts")
    p.set_defaults(func=commands.cmd_init)

    stages = _stage_names()
    p = sub.add_parser("run", help="run the stages in order, skipping those whose inputs did not change")
    p.add_argument("dir")
    p.add_argument("--from", dest="start", choices=stages, help="first stage to run")
    p.add_argument("--until", choices=stages, help="last stage to run")
    p.add_argument("--force", action="store_true", help="rerun stages even when nothing changed")
    p.add_argument("--strict", action="store_true", help="fail instead of skipping unreadable input files")
    p.set_defaults(func=commands.cmd_run)

    for name, spec in STAGES.items():
        p = sub.add_parser(name, help=spec.summary.split(":", 1)[-1].strip(), description=spec.summary)
        p.add_argument("dir")
        p.add_argument("--force", action="store_true", help="rerun even when nothing changed")
        p.add_argument("--strict", action="store_true", help="fail instead of skipping unreadable input files")
        if name == "label":
            p.add_argument("--review", action="store_true", help="walk through borderline segments first "
                           "(accept / flip / skip), then relabel with your decisions")
        add_flags(p, spec.settings)
        p.set_defaults(func=commands.cmd_stage, stage=name)

    from personatune.train.runs import Settings as TrainSettings

    p = sub.add_parser("train", help="LoRA fine-tune the base model on the built dataset (a new run)")
    p.add_argument("dir")
    p.add_argument("--resume", nargs="?", const="latest", metavar="RUN",
                   help="continue an interrupted run (default: the latest) from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to metrics.jsonl)")
    add_flags(p, TrainSettings)
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser("runs", help="list training runs with their key figures")
    p.add_argument("dir")
    p.set_defaults(func=commands.cmd_runs)

    p = sub.add_parser("merge", help="merge a run's adapter into its base model (a standalone HF folder)")
    p.add_argument("dir")
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    p.add_argument("--out", help="output folder (default: DIR/runs/<run>/merged)")
    p.set_defaults(func=commands.cmd_merge)

    from personatune.data.rag import Settings as RagSettings

    p = sub.add_parser("index", help="build the retrieval index over the segments (BM25 + embeddings); "
                       "report recall@k on the probes; optionally search it")
    p.add_argument("dir")
    p.add_argument("query", nargs="?", help="a question to retrieve passages for")
    add_flags(p, RagSettings)
    p.set_defaults(func=commands.cmd_index)

    p = sub.add_parser("card", help="write the persona card (a short system prompt) from the persona segments")
    p.add_argument("dir")
    p.set_defaults(func=commands.cmd_card)

    from personatune.runtime.generation import Settings as GenerationSettings

    p = sub.add_parser("export", help="write the merged model as GGUF (f16, q8_0, 4-bit) + Ollama Modelfile, "
                       "verified in llama.cpp against the Hugging Face model")
    p.add_argument("dir")
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    p.add_argument("--quant", default="f16,q8_0,q4_k_m",
                   help="comma-separated GGUF types: f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, ... "
                   "(default: f16,q8_0,q4_k_m)")
    p.add_argument("--no-adapter", action="store_true", help="skip the LoRA-only GGUF adapter")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check (llama.cpp, or onnxruntime with --web)")
    p.add_argument("--web", action="store_true", help="instead: a static web page that runs the model in the browser "
                   "(ONNX + transformers.js, WebGPU or WASM), written to DIR/export/<run>/web/")
    p.add_argument("--out", type=Path, help="with --web: the folder to write (default: DIR/export/<run>/web)")
    p.add_argument("--web-dtypes", default="fp32,fp16",
                   help="with --web: ONNX files to write: fp32 (always), fp16 (fp16 weights), q8, q4 (8/4-bit weights) "
                   "(default: %(default)s)")
    add_flags(p, GenerationSettings)
    p.set_defaults(func=commands.cmd_export)

    model_help = ("merged | adapter | base | gguf[:QUANT] | a .gguf file | a Hugging Face folder or name "
                  "(default: %(default)s)")
    p = sub.add_parser("chat", help="talk to the persona in the terminal (streamed; /help for commands)")
    p.add_argument("dir")
    p.add_argument("--model", default="merged", help=model_help)
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    p.add_argument("--card", action=argparse.BooleanOptionalAction, default=True, help="persona card as system prompt")
    p.add_argument("--rag", action=argparse.BooleanOptionalAction, default=True,
                   help="retrieved passages from the person's material in the prompt")
    add_flags(p, GenerationSettings)
    p.set_defaults(func=commands.cmd_chat)

    p = sub.add_parser("serve", help="OpenAI-compatible API (/v1/chat/completions, /v1/models) and a web chat page")
    p.add_argument("dir")
    p.add_argument("--model", action="append",
                   help="a model to serve, repeatable; the first is the default (default: merged and base); "
                   + model_help.replace(" (default: %(default)s)", ""))
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    _add_bind_flags(p, port=8000)
    p.add_argument("--token", default=None, help="require `Authorization: Bearer TOKEN` (or set PERSONATUNE_API_TOKEN)")
    p.add_argument("--max-body-kb", type=int, default=256, help="largest request body accepted (default: %(default)s)")
    p.add_argument("--max-tokens", type=int, default=1024, help="cap on max_tokens per request (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a generation may run (default: %(default)s)")
    p.add_argument("--queue", type=int, default=16,
                   help="requests that may wait for a busy model before new ones get 429 (default: %(default)s)")
    p.add_argument("--card", action=argparse.BooleanOptionalAction, default=True, help="persona card on by default")
    p.add_argument("--rag", action=argparse.BooleanOptionalAction, default=True, help="retrieval on by default")
    add_flags(p, GenerationSettings)
    p.set_defaults(func=commands.cmd_serve)

    from personatune.eval.evaluate import Settings as EvalSettings

    p = sub.add_parser("eval", help="measure identity, opinions, tasks, bleed, verbatim recall and length drift "
                       "per variant; eval.json + an HTML report")
    p.add_argument("dir")
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    add_flags(p, EvalSettings)
    p.set_defaults(func=commands.cmd_eval)

    p = sub.add_parser("sweep", help="train and evaluate several replication ratios; the dial plot and a "
                       "recommended ratio; optionally a generation-settings grid")
    p.add_argument("dir")
    p.add_argument("--ratios", default="1,3,10,15", help="ratios to try (default: %(default)s)")
    p.add_argument("--gen", nargs="*", metavar="NAME=V1,V2",
                   help="generation grid on the recommended run, e.g. temperature=0.3,0.7 "
                   "repetition_penalty=1.0,1.2 min_new_tokens=0,32")
    p.add_argument("--train-set", action="append", metavar="KEY=VALUE", help="train setting for every run, repeatable")
    p.add_argument("--eval-set", action="append", metavar="KEY=VALUE", help="eval setting for every eval, repeatable")
    p.set_defaults(func=commands.cmd_sweep)

    p = sub.add_parser("compare", help="metric changes from A to B (B minus A) on the same probes, with paired "
                       "bootstrap 95%% intervals")
    p.add_argument("dir")
    p.add_argument("a", help="run id or eval id (or a prefix); a run means its latest eval")
    p.add_argument("b", help="run id or eval id (or a prefix); a run means its latest eval")
    p.add_argument("--variant", default="tuned", help="variant to compare (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=commands.cmd_compare)

    p = sub.add_parser("rate", help="blind side-by-side rating of two variants' answers in the browser; "
                       "win rates with confidence intervals")
    p.add_argument("dir")
    p.add_argument("--a", default="tuned", help="first variant (default: %(default)s)")
    p.add_argument("--b", default="base", help="second variant (default: %(default)s)")
    p.add_argument("--eval", help="eval id (default: the latest)")
    _add_bind_flags(p, port=8001)
    p.add_argument("--rater", help="your name, stored with each vote")
    p.add_argument("--seed", type=int, default=0, help="order and sides of the pairs (default: %(default)s)")
    p.set_defaults(func=commands.cmd_rate)

    p = sub.add_parser("config", help="print every stage setting with its value and help")
    p.add_argument("dir", nargs="?", help="workspace whose persona.yaml to resolve (default: show defaults)")
    p.set_defaults(func=commands.cmd_config)

    p = sub.add_parser("models", help="list the embedded offline models and where they are")
    p.set_defaults(func=commands.cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"personatune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("personatune: interrupted; stages keep their last complete output", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `personatune run DIR | head -1`: the reader left, the work stopped unfinished. Say so and exit like
        # a process stopped by SIGPIPE (128 + 13), not 0; stdout goes to /dev/null so exiting cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("personatune: output closed early (a pipe such as `| head` ended); stopped before finishing",
              file=sys.stderr)
        return 141
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"personatune: error: the disk is full{where}; free some space and run again (every stage "
              "keeps its last complete output)", file=sys.stderr)
        return 1

