"""`personatune eval`: what the replication ratio did to the model, measured without an LLM judge.

Variants answer the same prompts side by side:

    base       base model, the trained system prompt ("You are {name}.")
    prompt     base model + persona card
    rag        base model + persona card + retrieved passages
    tuned      the run's model (merged, or base + adapter), the trained system prompt
    tuned+rag  the run's model + persona card + retrieved passages

Persona sets (identity, opinions) go to every variant; task sets (general instructions, neutral
prompts for bleed, task transfer in voice, training questions for verbatim recall) go to `base`
and `tuned`, the comparison they exist for. Generation is greedy and batched; answers and likelihoods
already computed in this workspace are reused (`answer_cache`), so after retraining only the tuned
variants are generated. `--quick` asks a fixed, documented subset (`QUICK`) and every metric is
printed with its 95% interval, so a difference inside the noise shows as one. Results:

    DIR/eval/<eval-id>/eval.json       every metric per variant, intervals, flags, timings
    DIR/eval/<eval-id>/answers.jsonl   every answer (also what `personatune rate` shows)
    DIR/eval/<eval-id>/report.html     plots and example answers beside their source passages
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from personatune import artifacts
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting
from personatune.workspace import Workspace

VARIANTS = ("base", "prompt", "rag", "tuned", "tuned+rag")
PERSONA_SETS = ("identity", "opinions")
TASK_SETS = ("general", "neutral", "transfer", "verbatim")
TASK_VARIANTS = ("base", "tuned")
# `--quick`: at most this many prompts per set, a seeded sample (general and neutral keep their
# category balance). About a third of the full suite's answers, the slow long-prompt ones included.
QUICK = {"identity": 12, "opinions": 6, "general": 20, "neutral": 20, "transfer": 4, "verbatim": 8}


@dataclass
class Settings(BaseSettings):
    variants: list[str] = setting(default_factory=lambda: list(VARIANTS), help="variants to compare")
    model: str = setting("merged", help="the tuned model: merged | adapter | gguf[:TYPE]")
    max_new_tokens: int = setting(48, help="tokens per answer (greedy); probes and tasks need a few sentences")
    repetition_penalty: float = setting(1.15, help="as at chat time")
    batch_size: int = setting(16, help="prompts generated together (HF backend)")
    general: int = setting(60, help="built-in general-instruction prompts (task retention)")
    neutral: int = setting(60, help="built-in neutral prompts (bleed)")
    transfer: int = setting(8, help="task-transfer prompts in the person's voice")
    verbatim: int = setting(16, help="training questions asked back (verbatim recall, length drift)")
    verbatim_tokens: int = setting(192, help="tokens per verbatim answer: room for a training-length answer")
    nll_rows: int = setting(32, help="held-out instructional pairs scored for likelihood (a seeded sample)")
    seed: int = setting(0, help="sampling of prompts")
    quick: bool = setting(False, help="a documented subset per set (identity 12, opinions 6, general 20, neutral "
                          "20, transfer 4, verbatim 8): minutes instead of ~8, with wider intervals")
    cache: bool = setting(True, help="reuse answers and likelihoods already computed in this workspace "
                          "(DIR/cache/eval_answers.jsonl; keyed by weights, prompt, settings, backend)")
    judge_url: str = setting("", help="OpenAI-compatible endpoint of an optional LLM judge, e.g. "
                             "http://127.0.0.1:8080/v1 (empty: off)")
    judge_model: str = setting("", help="model name the judge endpoint serves")
    judge_key_env: str = setting("", help="environment variable holding the judge's API key (empty: none)")
    judge_sets: list[str] = setting(default_factory=lambda: ["identity", "opinions", "general", "transfer"],
                                    help="sets the judge scores")
    judge_limit: int = setting(0, help="judge at most N prompts per set, the same for every variant (0: all)")

    def problems(self) -> list[str]:
        from personatune.eval.judge import KIND_OF_SET

        unknown = [v for v in self.variants if v not in VARIANTS]
        out = [f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}"] if unknown else []
        if self.judge_url and not self.judge_model:
            out.append("judge_url needs judge_model")
        if self.judge_limit < 0:
            out.append("judge_limit must be >= 0")
        bad_sets = [s for s in self.judge_sets if s not in KIND_OF_SET]
        if bad_sets:
            out.append(f"judge_sets: unknown set(s) {', '.join(bad_sets)}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            out.append("max_new_tokens and batch_size must be >= 1")
        return out


@dataclass
class Item:
    set: str
    id: str
    question: str
    expected: list[str] = field(default_factory=list)  # identity facts
    reference: str = ""  # the person's own answer / a reference answer
    source: str = ""  # where the reference comes from
    check: dict | None = None  # general-instruction check
    rephrased: list[str] = field(default_factory=list)  # other ways to ask (probes' `rephrased`)


def _probes(ws: Workspace, heldout: list[dict]) -> tuple[list[Item], list[Item]]:
    """Identity and opinion probes from the probes file, else derived from held-out persona segments."""
    from personatune.data.pairs import load_probes

    path = ws.path_setting("probes")
    if path is not None and path.exists():
        data = load_probes(path)
        identity, opinions = ([Item(name, f"{name}-{n:02d}", p["question"], [str(e) for e in p.get("expected") or []],
                                    p["answer"], p.get("source", ""), rephrased=list(p.get("rephrased") or []))
                               for n, p in enumerate(data.get(name) or [], 1)] for name in ("identity", "opinions"))
        return identity, opinions
    identity, opinions = [], []
    for n, row in enumerate(r for r in heldout if r.get("label") == "persona"):
        facts = sorted(set(re.findall(r"\b(?:1[89]|20)\d\d\b|\b[A-Z][a-zà-ž]+(?:\s[A-Z][a-zà-ž]+)*", row["answer"][1:])))
        item = Item("opinions" if row.get("subtype") == "opinion" else "identity", f"heldout-{n:02d}",
                    row["question"], facts[:4], row["answer"], row.get("source", ""))
        (opinions if item.set == "opinions" else identity).append(item)
    return identity, opinions


def ask_untrained(items: dict[str, list[Item]], trained_questions: set[str], log=print) -> dict[str, dict]:
    """A probe the run trained on word for word is asked in its first rephrasing the run never saw, by every
    variant alike (recall, not recitation); one with no such phrasing keeps its question, and scoring leaves it
    out. Returns {probe id: {"trained": question, "asked": rephrasing}}."""
    from personatune.eval.metrics.text import normalise

    swapped = {}
    for item in items.get("identity", []) + items.get("opinions", []):
        if normalise(item.question) not in trained_questions:
            continue
        fresh = next((q for q in item.rephrased if normalise(q) not in trained_questions), None)
        if fresh is not None:
            swapped[item.id] = {"trained": item.question, "asked": fresh}
            item.question = fresh
    if swapped:
        log(f"  {len(swapped)} probe(s) trained on word for word, asked in another phrasing: "
            + "; ".join(f"{v['trained']} -> {v['asked']}" for v in list(swapped.values())[:3]))
    return swapped


def _titles(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        title = (row.get("title") or "").strip()
        if title and row.get("label") == "instructional":
            seen.setdefault(title, None)
    return list(seen)


def build_items(ws: Workspace, settings: Settings, train: list[dict], heldout: list[dict]) -> dict[str, list[Item]]:
    from personatune.eval import evalsets

    rng = random.Random(settings.seed)
    size = {"general": settings.general, "neutral": settings.neutral, "transfer": settings.transfer,
            "verbatim": settings.verbatim}
    if settings.quick:
        size = {name: min(n, QUICK[name]) for name, n in size.items()}
    identity, opinions = _probes(ws, heldout)
    if not identity and not opinions:
        raise UserError(f"no probes file and no held-out persona segments in {ws.root}; add `probes:` to "
                        "persona.yaml or label more persona segments")
    if settings.quick:
        identity, opinions = (_subset(identity, QUICK["identity"], settings.seed),
                              _subset(opinions, QUICK["opinions"], settings.seed))
    general = [Item("general", g.id, g.prompt, reference=g.reference, check=g.check)
               for g in evalsets.balanced(evalsets.load_general(), size["general"])]
    neutral = [Item("neutral", g.id, g.prompt) for g in evalsets.balanced(evalsets.load_neutral(), size["neutral"])]
    topics = _titles(train + heldout) or [ws.name]
    transfer = [Item("transfer", p.id, p.prompt) for p in evalsets.transfer_prompts(topics, size["transfer"],
                                                                                    seed=settings.seed)]
    persona_rows = [r for r in train if r.get("label") == "persona" and r.get("kind") == "segment"]
    by_segment: dict[str, dict] = {}
    asked: set[str] = set()  # one item per question: several segments share a plain one, asked once is enough
    for row in persona_rows:
        if row["segment_id"] not in by_segment and row["question"] not in asked:
            by_segment[row["segment_id"]] = row
            asked.add(row["question"])
    picked = rng.sample(sorted(by_segment), min(size["verbatim"], len(by_segment)))
    verbatim = [Item("verbatim", f"verbatim-{sid}", by_segment[sid]["question"], reference=by_segment[sid]["answer"],
                     source=by_segment[sid].get("source", "")) for sid in picked]
    return {"identity": identity, "opinions": opinions, "general": general, "neutral": neutral,
            "transfer": transfer, "verbatim": verbatim}


def _subset(items: list[Item], n: int, seed: int) -> list[Item]:
    """A seeded sample of `n` items, kept in their order."""
    if len(items) <= n:
        return items
    keep = set(random.Random(seed).sample(range(len(items)), n))
    return [item for k, item in enumerate(items) if k in keep]


def _toggles(variant: str):
    from personatune.persona.prompting import Toggles

    return {"base": Toggles(False, False), "prompt": Toggles(True, False), "rag": Toggles(True, True),
            "tuned": Toggles(False, False), "tuned+rag": Toggles(True, True)}[variant]


def _engines(ws: Workspace, run_dir: Path, settings: Settings, variants: list[str], log):
    from personatune.runtime.engines import export_dir, open_engine

    engines = {}
    if any(not v.startswith("tuned") for v in variants):
        # With the tuned model on llama.cpp, the base runs there too when the export wrote it.
        base_gguf = export_dir(ws, run_dir) / "base-f16.gguf"
        use_gguf = settings.model.startswith("gguf") and base_gguf.exists()
        engines["base"] = open_engine(ws, str(base_gguf) if use_gguf else "base", name="base", log=log)
    if any(v.startswith("tuned") for v in variants):
        engines["tuned"] = open_engine(ws, settings.model, run=run_dir.name, name="tuned", log=log)
    return engines


def evaluate(ws: Workspace, run_id: str | None = None, settings: Settings | None = None, log=print) -> Path:
    """Run the suite; returns the eval folder."""
    from personatune.eval.answer_cache import AnswerCache
    from personatune.eval.score import metric_lines, score_all
    from personatune.persona.prompting import Persona
    from personatune.runtime.generation import Settings as GenSettings
    from personatune.train.runs import dataset_changed, find_run

    settings = settings or Settings()
    started = time.perf_counter()
    run_dir = find_run(ws, run_id)
    build = ws.stage_dir("build")
    if not (build / "train.jsonl").exists():
        raise UserError(f"no built dataset in {ws.root}; run `personatune run {ws.root}` first")
    train = artifacts.read_jsonl(build / "train.jsonl")
    heldout = artifacts.read_jsonl(build / "heldout.jsonl") if (build / "heldout.jsonl").exists() else []
    items = build_items(ws, settings, train, heldout)
    run_record = artifacts.read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    trained_questions = training_questions(run_record)
    stale = dataset_changed(ws, run_record)
    if stale:
        log(f"warning: the built dataset changed since run {run_dir.name} trained; length drift, copying and the "
            "probes asked in training are measured against the new rows (retrain to compare like with like)")
    rephrased = ask_untrained(items, trained_questions, log)
    from personatune.eval.judge import make_judge

    judge = make_judge(settings.judge_url, settings.judge_model, settings.judge_key_env or None)
    if judge is not None:  # a misconfigured judge fails here, before minutes of generation
        judge.check()
        log(f"judge: {judge.model} at {judge.base_url}")
    engines = _engines(ws, run_dir, settings, settings.variants, log)
    cache = AnswerCache(ws.root / "cache" / "eval_answers.jsonl", enabled=settings.cache)
    persona = Persona(ws, log=log)
    gen = GenSettings(temperature=0.0, repetition_penalty=settings.repetition_penalty,
                      max_new_tokens=settings.max_new_tokens)
    plan = [(variant, name) for variant in settings.variants for name in (*PERSONA_SETS, *TASK_SETS)
            if name in PERSONA_SETS or variant in TASK_VARIANTS]
    total = sum(len(items[name]) for _, name in plan)
    log(f"eval of run {run_dir.name}: {len(settings.variants)} variants, {total} answers to generate")
    answers: list[dict] = []
    done, timings, by_variant = 0, {}, {}
    for variant, name in plan:
        engine = engines["tuned" if variant.startswith("tuned") else "base"]
        toggles = _toggles(variant)
        budget = gen.updated(max_new_tokens=settings.verbatim_tokens) if name == "verbatim" else gen
        prompts = [persona.prompt([{"role": "user", "content": item.question}], toggles, engine, budget)
                   for item in items[name]]
        t0, generated = time.perf_counter(), []  # (answer, tokens) of what was not in the cache
        outs = cache.answers(engine, [p.messages for p in prompts], budget,
                             _generator(engine, budget, settings, into=generated))
        seconds = time.perf_counter() - t0
        done += len(prompts)
        counts = by_variant.setdefault(variant, {"reused": 0, "generated": 0})
        counts["reused"] += len(prompts) - len(generated)
        counts["generated"] += len(generated)
        timings[f"{variant}/{name}"] = round(seconds, 2)
        speed = (f"{sum(n for _, n in generated) / max(seconds, 1e-9):6.1f} tok/s" if generated else "    cached")
        log(f"  {variant:10} {name:9} {len(prompts):3} answers ({len(prompts) - len(generated)} cached), {speed} "
            f"[{done}/{total}, {time.perf_counter() - started:.0f}s]")
        for item, prompt, (text, n) in zip(items[name], prompts, outs):
            answers.append({"set": name, "prompt_id": item.id, "prompt": item.question, "variant": variant,
                            "answer": text.strip(), "tokens": n,
                            "passages": [{"where": h["where"], "text": h["text"]} for h in prompt.passages]})
    log("scoring")
    instructional = [r for r in heldout if r.get("label") == "instructional"]
    sample = random.Random(settings.seed).sample(instructional, min(settings.nll_rows, len(instructional)))
    nll = _likelihoods(ws, engines, items, [r for r in heldout if r.get("label") != "instructional"] + sample,
                       run_dir.name, cache)
    trained = run_record.get("persona_segments_trained")
    result = score_all(ws, items, answers, train, nll, settings.variants, log=log,
                       trained_segments=set(trained) if trained is not None else None,
                       trained_questions=trained_questions)
    result["probes_rephrased"] = rephrased
    result["dataset_changed_since_training"] = stale
    if judge is not None:
        from personatune.eval.judge import judge_answers, record

        by_id = {name: {i.id: i for i in group} for name, group in items.items()}
        scores = judge_answers(judge, answers, by_id, persona.card, sets=settings.judge_sets,
                               limit=settings.judge_limit or None)
        record(result, scores, judge, answers=answers)
    eval_id = time.strftime("%Y%m%d-%H%M%S")
    folder = ws.root / "eval" / eval_id
    result.update({"eval_id": eval_id, "run_id": run_dir.name, "settings": settings.to_dict(),
                   "answer_cache": {**cache.record(), "by_variant": by_variant},
                   "timings": {**timings, "total_s": round(time.perf_counter() - started, 1)}})
    with artifacts.atomic_dir(folder) as tmp:
        artifacts.write_jsonl(tmp / "answers.jsonl", answers)
        artifacts.write_json(tmp / "eval.json", result)
        from personatune.eval.report import write_report

        write_report(tmp, result, answers, items)
    for line in metric_lines(result):
        log(line)
    reused, computed = (sum(c[k] for c in cache.counts.values()) for k in ("reused", "computed"))
    log(f"answers and likelihoods: {reused} reused from earlier evals, {computed} computed"
        + ("" if settings.cache else " (cache off)") + ("; quick subset (--quick)" if settings.quick else ""))
    log(f"eval done in {time.perf_counter() - started:.0f}s: {folder / 'report.html'}")
    return folder


def _generator(engine, budget, settings: Settings, into: list):
    """Generates answers for the conversations the cache misses; what it generated is also added to `into`."""
    def generate(conversations: list[list[dict]]) -> list[tuple[str, int]]:
        if hasattr(engine, "generate_batch"):  # both local engines: the persona card computed once per set
            outs = engine.generate_batch(conversations, budget, batch_size=settings.batch_size)
        else:
            outs = []
            for messages in conversations:
                text = engine.complete(messages, budget)
                outs.append((text, engine.last.completion_tokens))
        into.extend(outs)
        return outs
    return generate


def training_questions(run_record: dict) -> set[str]:
    """Every user message the run trained on, normalised (empty when its training file is gone)."""
    from personatune.eval.metrics.text import normalise

    path = Path(run_record.get("dataset") or "") / f"{run_record.get('training_split', 'train')}.jsonl"
    if not run_record.get("dataset") or not path.is_file():
        return set()
    return {normalise(m["content"]) for row in artifacts.read_jsonl(path) for m in row.get("messages", [])
            if m.get("role") == "user"}


def _likelihoods(ws: Workspace, engines: dict, items: dict[str, list[Item]], heldout: list[dict],
                 run_id: str, cache) -> dict:
    """Held-out persona and instructional answer NLL under base and tuned (trained system prompt)."""
    from personatune.persona.prompting import Persona
    from personatune.runtime.hf_engine import HFEngine

    system = Persona.plain_system_for(ws)

    def convo(q: str, a: str) -> list[dict]:
        return [{"role": "system", "content": system}, {"role": "user", "content": q}, {"role": "assistant", "content": a}]

    persona = [convo(i.question, i.reference) for i in items["identity"] + items["opinions"] if i.reference]
    persona += [convo(r["question"], r["answer"]) for r in heldout if r.get("label") == "persona"]
    instruction = [convo(r["question"], r["answer"]) for r in heldout if r.get("label") == "instructional"]
    from personatune.runtime.engines import open_engine

    out: dict = {}
    for key, engine in engines.items():
        twin: list = []

        def nll(conversations: list[list[dict]], key=key, engine=engine, twin=twin) -> list[float]:
            if isinstance(engine, HFEngine):
                return engine.answer_nll(conversations)
            if not twin:  # likelihoods come from the Hugging Face twin of a GGUF, loaded only on a miss
                twin.append(open_engine(ws, "base" if key == "base" else "merged", run=run_id, log=lambda _: None))
            return twin[0].answer_nll(conversations)

        def model(engine=engine, key=key) -> str:  # the twin of a GGUF is the run's merged model (or the base)
            twin_of = "" if isinstance(engine, HFEngine) else f"|hf-twin:{'base' if key == 'base' else run_id}"
            return engine.fingerprint() + twin_of

        out[key] = {"persona_nll": cache.likelihoods(model, persona, nll) if persona else [],
                    "instruction_nll": cache.likelihoods(model, instruction, nll) if instruction else []}
    return out
