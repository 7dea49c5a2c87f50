"""build: split by segment into train / validation / held-out, then oversample the persona rows of train.

The split happens BEFORE any copying: a segment and all its questions land in exactly one split,
so no copy of a held-out segment, and no question written from one, can reach training. Then the
persona rows of train are replicated (fixed ratio, or `auto`: enough to bring persona tokens to
the same order of magnitude as the dominant label), each copy with a different question. The cap
refuses ratios past it unless explicitly overridden, and warns when it is.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass

from personatune import artifacts
from personatune.data.served import mark_served, served_section
from personatune.data.stage import StageContext
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 7  # 4: budget_tokens; 5: served rows; 6: answers start at their question; 7: facts read outside persona
SPLITS = ("train", "validation", "heldout")
DEPLOY = "deploy"  # train + the persona rows held out for evaluation, oversampled alike


@dataclass
class Settings(BaseSettings):
    ratio: str = setting("auto", help="copies of each persona row in train: 'auto' (the default: persona tokens "
                                      "reach auto_target of the dominant label's tokens, at most cap) or a number")
    cap: int = setting(10, help="largest ratio allowed without allow_over_cap")
    allow_over_cap: bool = setting(False, help="permit a ratio above the cap (a warning is still printed)")
    auto_target: float = setting(0.3, help="for ratio auto: persona tokens as a fraction of the dominant "
                                           "label's tokens (0.3: the same order of magnitude, not overwhelming it; "
                                           "an archive that is 2% persona gets the cap, 10x; one that is 27% gets 1x)")
    fact_boost: int = setting(4, help="copies of each fact pair (one sentence answering a fact question) as a "
                                      "multiple of the persona ratio: cheap to repeat, and a small model states a "
                                      "fact only after many repetitions")
    validation_fraction: float = setting(0.1, help="share of segments (per label) for validation")
    heldout_fraction: float = setting(0.1, help="share of segments (per label) held out for evaluation")
    min_persona_heldout: int = setting(2, help="keep at least this many persona segments held out (when there are "
                                               "enough) so identity can be evaluated")
    budget_tokens: int = setting(0, help="at most this many train tokens per non-persona label (0: no budget): "
                                         "instructional segments are sampled across topics, persona is never "
                                         "dropped, and the ratio is chosen against what is kept")
    served_share: float = setting(0.2, help="share of train and deploy rows trained as served: their system message "
                                            "is the one chat, serve and eval send (persona card + retrieved passages), "
                                            "so the model learns to use passages (0: the plain system prompt only)")
    served_fact_share: float = setting(0.2, help="the same share for fact pairs (0.5 measured worse: a fact served "
                                                 "with its passage is copied, not learned)")
    served_gold_share: float = setting(0.8, help="of the served rows, the share whose passages include the answer's own "
                                                 "segment; the rest get other passages only, so the model learns to "
                                                 "answer from what it learned when retrieval misses")
    answer_from: str = setting("question", choices=("question", "start"), help="where a passage's answer starts: "
                               "'question', at the sentence its question asks about, to the end; 'start', whole")
    seed: int = setting(13, help="seed for the split and the shuffle")

    def problems(self) -> list[str]:
        out = []
        if str(self.ratio) != "auto":
            try:
                if whole(self.ratio) < 1:
                    out.append("ratio must be >= 1 or 'auto'")
            except ValueError:
                out.append(f"ratio {self.ratio!r} must be a whole number or 'auto'")
        if self.cap < 1 or self.fact_boost < 1:
            out.append("cap and fact_boost must be >= 1")
        if not 0 <= self.validation_fraction < 1 or not 0 <= self.heldout_fraction < 1 or \
                self.validation_fraction + self.heldout_fraction >= 1:
            out.append("validation_fraction and heldout_fraction must be >= 0 and sum to < 1")
        if not 0 < self.auto_target <= 10:
            out.append("auto_target must be in (0, 10]")
        if self.budget_tokens < 0:
            out.append("budget_tokens must be >= 0 (0: no budget)")
        out += [f"{name} must be between 0 and 1" for name in ("served_share", "served_fact_share", "served_gold_share")
                if not 0 <= getattr(self, name) <= 1]
        return out


def whole(value) -> int:
    """10, "10" and 10.0 (YAML's way of writing it, sometimes) are the ratio 10; 10.5 is not a ratio."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def split_segments(rows: list[dict], settings: Settings) -> dict[str, str]:
    """segment_id -> split, stratified by label, deterministic for a seed."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "segment":
            by_label[row["label"]].append(row)
    assignment: dict[str, str] = {}
    for label, items in sorted(by_label.items()):
        items = sorted(items, key=lambda r: artifacts.sha256_text(f"{settings.seed}:{r['key'] or r['segment_id']}"))
        n = len(items)
        n_held = round(n * settings.heldout_fraction)
        n_val = round(n * settings.validation_fraction)
        if label == "persona" and n >= 3 * settings.min_persona_heldout:
            n_held = max(n_held, settings.min_persona_heldout)
        n_val = min(n_val, max(0, n - n_held - 1))
        for i, row in enumerate(items):
            assignment[row["segment_id"]] = "heldout" if i < n_held else "validation" if i < n_held + n_val else "train"
    for row in rows:
        if row["kind"] != "segment":
            # A fact pair goes where its segment went (a held-out segment's facts never reach training);
            # contrastive pairs are not from segments.
            assignment[row["segment_id"]] = assignment.get(row.get("parent"), "train")
    return assignment


def row_tokens(row: dict) -> int:
    return int(row.get("tokens") or round(len(row["text"].split()) * 1.3))


def choose_ratio(train: list[dict], settings: Settings) -> tuple[int, str, list[str]]:
    """(ratio, why, warnings), from the whole passages' tokens: how much of the person there is (an answer that
    starts later in its passage trains fewer; the shares after oversampling count what is trained)."""
    tokens = Counter()
    for row in train:
        tokens[row["label"]] += row_tokens(row)
    persona = tokens.get("persona", 0)
    warnings = []
    if str(settings.ratio) == "auto":
        dominant_label, dominant = max(((k, v) for k, v in tokens.items() if k != "persona"),
                                       key=lambda kv: kv[1], default=("none", 0))
        if persona == 0:
            return 1, "auto: no persona rows in train, nothing to oversample", ["no persona rows in the train split"]
        wanted = max(1, math.ceil(settings.auto_target * dominant / persona))
        why = (f"auto: persona has {persona} tokens, {dominant_label} {dominant}; {wanted}x brings persona to "
               f">= {settings.auto_target:g} of {dominant_label}")
        if wanted > settings.cap and not settings.allow_over_cap:
            warnings.append(f"auto ratio {wanted} exceeds cap {settings.cap}; using {settings.cap} "
                            "(set build.allow_over_cap: true to go past it)")
            return settings.cap, why + f", capped at {settings.cap}", warnings
        ratio = wanted
    else:
        ratio = whole(settings.ratio)
        why = f"fixed ratio {ratio} from settings"
        if ratio > settings.cap and not settings.allow_over_cap:
            raise UserError(f"build.ratio {ratio} exceeds the cap {settings.cap}: past the cap the model tends to "
                            "parrot its biography and recite rows; lower the ratio, or set build.cap / "
                            "--allow-over-cap if you mean it")
    if persona == 0:
        warnings.append("no persona rows in the train split: nothing to oversample, the model would learn the "
                        "cadence without an identity; check the label report or mark persona segments with "
                        "`personatune label DIR --review`")
    if ratio > settings.cap:
        warnings.append(f"ratio {ratio} is over the cap {settings.cap} (allowed by allow_over_cap); watch eval "
                        "for bleed and verbatim repetition")
    dominant = max((v for k, v in tokens.items() if k != "persona"), default=0)
    if persona and dominant and persona * ratio > dominant:
        warnings.append(f"OVERWHELMS: {ratio}x makes persona {persona * ratio} tokens, more than the dominant "
                        f"label's {dominant}; the model will drag its biography into every answer. Use ratio: auto "
                        f"(would be {max(1, math.ceil(settings.auto_target * dominant / persona))}x) or a lower ratio")
    return ratio, why, warnings


def example(row: dict, split: str, question: str, copy: int, from_question: bool = False) -> dict:
    """One training row; with `from_question` the answer starts where the pairs stage found the question's
    sentence (`answer_starts`), its tokens counted in proportion."""
    start = (dict(zip(row["questions"], row.get("answer_starts") or [])).get(question) if from_question else 0) or 0
    answer = row["text"][start:]
    tokens = max(1, round(row_tokens(row) * len(answer.split()) / max(1, len(row["text"].split())))) if start else row_tokens(row)
    return {"id": f"{row['segment_id']}#{copy}", "split": split, "segment_id": row["segment_id"],
            "label": row["label"], "subtype": row.get("subtype"), "kind": row["kind"], "question": question,
            "answer": answer, "copy": copy, "source": row.get("source"), "title": row.get("title"),
            "start": row.get("start"), "offset": row.get("offset"), "tokens": tokens,
            **({"parent": row["parent"], "read_from": row.get("read_from", "persona")} if row.get("parent") else {})}


def oversampled(row: dict, split: str, ratio: int, rng: random.Random, fact_boost: int = 1,
                from_question: bool = False) -> list[dict]:
    """A persona row `ratio` times (a fact pair `ratio * fact_boost` times), each copy asking with a
    different question where there are enough variants; any other row once, with one of its questions."""
    questions = row["questions"]
    if row["label"] != "persona":
        return [example(row, split, rng.choice(questions), 0, from_question)]
    start = rng.randrange(len(questions))
    copies = ratio * (fact_boost if row["kind"] == "fact" else 1)
    return [example(row, split, questions[(start + k) % len(questions)], k, from_question) for k in range(copies)]


def percentiles(values: list[int]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> int:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
    return {"mean": round(sum(ordered) / len(ordered), 1), "min": ordered[0], "p10": pct(10), "p25": pct(25),
            "p50": pct(50), "p75": pct(75), "p90": pct(90), "max": ordered[-1]}


def shares(examples: list[dict]) -> dict:
    rows, tokens = Counter(), Counter()
    for ex in examples:
        rows[ex["label"]] += 1
        tokens[ex["label"]] += ex["tokens"]
    total_rows, total_tokens = sum(rows.values()) or 1, sum(tokens.values()) or 1
    return {label: {"rows": rows[label], "tokens": tokens[label], "row_share": round(rows[label] / total_rows, 4),
                    "token_share": round(tokens[label] / total_tokens, 4)} for label in sorted(rows)}


def build(rows: list[dict], settings: Settings) -> tuple[dict[str, list[dict]], dict]:
    usable = [r for r in rows if r["questions"]]
    assignment = split_segments(rows, settings)
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for row in usable:
        by_split[assignment[row["segment_id"]]].append(row)
    budget = None
    if settings.budget_tokens:
        from personatune.data.budget import within_budget

        by_split["train"], budget = within_budget(by_split["train"], settings.budget_tokens, row_tokens, settings.seed)
    ratio, why, warnings = choose_ratio(by_split["train"], settings)
    warnings += (budget or {}).get("warnings", [])
    rng = random.Random(settings.seed)
    from_question, row_text = settings.answer_from == "question", {r["segment_id"]: r["text"] for r in rows}
    out: dict[str, list[dict]] = {s: [] for s in (*SPLITS, DEPLOY)}
    before = []
    seen: dict[str, int] = {}
    for row in by_split["train"]:
        copies = oversampled(row, "train", ratio, rng, settings.fact_boost, from_question)
        if row["label"] == "persona":
            seen[row["segment_id"]] = len(copies)
        before.append(copies[0])
        out["train"].extend(copies)
    # The model a person keeps learns every persona segment: the held-out ones join it, oversampled alike.
    out[DEPLOY] = list(out["train"]) + [copy for split in ("validation", "heldout") for row in by_split[split]
                                        if row["label"] == "persona"
                                        for copy in oversampled(row, DEPLOY, ratio, rng, settings.fact_boost,
                                                                from_question)]
    rng.shuffle(out["train"])
    rng.shuffle(out[DEPLOY])
    served = {"share": settings.served_share, "fact_share": settings.served_fact_share,
              "gold_share": settings.served_gold_share,
              "deploy": mark_served(out[DEPLOY], settings.seed, settings.served_share, settings.served_gold_share,
                                    settings.served_fact_share),
              "train": dict(Counter(f"{r['label']}/{r['served']}" for r in out["train"] if r.get("served")))}
    for split in ("validation", "heldout"):
        for row in by_split[split]:
            ex = example(row, split, row["questions"][0], 0, from_question)
            ex["questions"] = row["questions"]
            out[split].append(ex)
    leaks = {r["segment_id"] for r in out["train"]} & {r["segment_id"] for s in ("validation", "heldout") for r in out[s]}
    if leaks:
        raise AssertionError(f"split leak: {sorted(leaks)[:3]}")
    persona_variants = [len(set(q for q in r["questions"])) for r in by_split["train"] if r["label"] == "persona"]
    after_share = shares(out["train"]).get("persona", {}).get("token_share", 0.0)
    if 0 < after_share < 0.01:
        warnings.append(f"persona is still only {after_share:.1%} of training tokens after {ratio}x: too little for an "
                        "identity; add persona material (an about page, a Q&A video) or mark more segments persona")
    report = {
        "segments_without_questions": sorted(r["segment_id"] for r in rows if not r["questions"]),
        "budget": budget,
        "served": served,
        "ratio": ratio, "ratio_setting": str(settings.ratio), "cap": settings.cap, "why": why, "warnings": warnings,
        "segments": {s: dict(Counter(r["label"] for r in by_split[s] if r["kind"] != "fact")) for s in SPLITS},
        "rows": {s: len(out[s]) for s in (*SPLITS, DEPLOY)},
        "deploy": {"persona_segments": len({r.get("parent") or r["segment_id"] for r in out[DEPLOY]
                                            if r["label"] == "persona" and r.get("read_from", "persona") == "persona"}),
                   "of_persona_segments": len({r.get("parent") or r["segment_id"] for s in SPLITS for r in by_split[s]
                                               if r["label"] == "persona" and r.get("read_from", "persona") == "persona"})},
        "train_before_oversampling": shares([{"label": r["label"], "tokens": row_tokens(r)} for r in by_split["train"]]),
        "train_after_oversampling": shares(out["train"]),
        "persona_times_seen": {"per_segment": seen, "min": min(seen.values(), default=0),
                               "max": max(seen.values(), default=0),
                               "distinct_questions_per_segment": percentiles(persona_variants)},
        "answer_words": {s: percentiles([len(r["answer"].split()) for r in out[s]]) for s in SPLITS},
        "answers_from_question": [settings.answer_from, sum(r["kind"] == "segment" and r["answer"] != row_text.get(
            r["segment_id"]) for r in out["train"]), sum(r["kind"] == "segment" for r in out["train"])],
        "answer_words_by_label": {label: percentiles([len(r["answer"].split()) for r in out["train"] if r["label"] == label])
                                  for label in sorted({r["label"] for r in out["train"]})},
        "fact_pairs": {s: sum(r["kind"] == "fact" for r in by_split[s]) for s in SPLITS}, "fact_pairs_outside_persona":
            sum(r.get("read_from", "persona") != "persona" for s in SPLITS for r in by_split[s]),
        "examples": {"fact": [{"question": " / ".join(r["questions"]), "answer": r["text"]}
                              for r in random.Random(settings.seed).sample(
                                  [r for r in by_split["train"] if r["kind"] == "fact"],
                                  min(5, sum(r["kind"] == "fact" for r in by_split["train"])))],
                     "random": [{"label": r["label"], "kind": r["kind"], "question": r["question"],
                                 "answer": r["answer"]}
                                for r in random.Random(settings.seed + 1).sample(before, min(10, len(before)))]},
    }
    return out, report


def _quote(text: str, words: int = 40) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def pairs_section(report: dict, checks: dict) -> list[str]:
    """What a person checks in a minute: per label the share of proposed questions passing each check,
    fact pairs with examples, and ten random training pairs."""
    lines = ["## Questions", ""]
    if checks:
        names = sorted({name for label in checks.values() for name in label})
        lines += ["Share of proposed questions passing each check (a failing question is replaced by the next "
                  "proposal):", "", "| label | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for label, row in checks.items():
            lines.append(f"| {label} | " + " | ".join(f"{row[n]['share']:.0%} of {row[n]['passed'] + row[n]['failed']}"
                                                     if n in row else "" for n in names) + " |")
        lines.append("")
    facts, outside = report.get("fact_pairs", {}), report.get("fact_pairs_outside_persona")
    if sum(facts.values()):
        lines += [f"**Fact pairs:** {sum(facts.values())} ({', '.join(f'{s} {n}' for s, n in facts.items())}): "
                  "a specific question answered by the person's own sentence; persona rows, split with their "
                  f"segment{f'; {outside} read from segments not labelled persona' if outside else ''}.", ""]
        for ex in report["examples"]["fact"]:
            lines.append(f"- *{ex['question']}* → {_quote(ex['answer'])}")
        lines.append("")
    lines += ["Ten random training pairs (before oversampling):", ""]
    for ex in report["examples"]["random"]:
        lines.append(f"- [{ex['label']}{', fact' if ex['kind'] == 'fact' else ''}] *{ex['question']}* → "
                     f"{_quote(ex['answer'])}")
    return lines + [""]


def budget_section(budget: dict | None) -> list[str]:
    if not budget:
        return []
    lines = ["", f"## Token budget: {budget['budget_tokens']} tokens per non-persona label", ""]
    for label, b in budget["labels"].items():
        lines.append(f"- {label}: kept {b['segments_after']} of {b['segments_before']} segments ({b['tokens_after']} of "
                     f"{b['tokens_before']} tokens), {b['topics_kept']} of {b['topics']} topics")
    left = budget["left_out"]
    if not budget["labels"]:
        lines.append("- every label fits: nothing left out")
    else:
        lines += [f"- left out: {left['segments']} segments, {left['tokens']} tokens; persona: none (never dropped)",
                  "- most left out from: " + ", ".join(f"{title} ({n})" for title, n in left["most_from"])]
    return lines


def dataset_card(name: str, report: dict, checks: dict | None = None) -> str:
    before, after = report["train_before_oversampling"], report["train_after_oversampling"]
    lines = [f"# Dataset card: {name}", "",
             "Training pairs built from the person's own material: each answer is a segment of their words, "
             "each question one of several written for it.", "",
             f"**Persona ratio:** {report['ratio']}x ({report['why']}).", ""]
    for warning in report["warnings"]:
        lines += [f"> warning: {warning}", ""]
    lines += ["## Splits (by source segment, before oversampling)", "", "| split | segments | rows |", "|---|---|---|"]
    for split in SPLITS:
        segs = report["segments"][split]
        lines.append(f"| {split} | {sum(segs.values())} ({', '.join(f'{k} {v}' for k, v in sorted(segs.items()))}) "
                     f"| {report['rows'][split]} |")
    deploy = report.get("deploy")
    if deploy:
        lines += [f"| deploy | train + the held-out persona ({deploy['persona_segments']} of "
                  f"{deploy['of_persona_segments']} persona segments) | {report['rows'][DEPLOY]} |", "",
                  "`personatune train` trains the model you keep on `deploy` (every persona segment); "
                  "`train --persona-held-out` trains on `train` only, so eval can tell what the model learned "
                  "from what only retrieval can know."]
    lines += budget_section(report.get("budget"))
    lines += served_section(report.get("served"))
    lines += ["", "## Train label shares", "", "| label | rows before | tokens before | token share before | "
              "rows after | tokens after | token share after |", "|---|---|---|---|---|---|---|"]
    for label in sorted(set(before) | set(after)):
        b, a = before.get(label, {}), after.get(label, {})
        lines.append(f"| {label} | {b.get('rows', 0)} | {b.get('tokens', 0)} | {b.get('token_share', 0):.1%} | "
                     f"{a.get('rows', 0)} | {a.get('tokens', 0)} | {a.get('token_share', 0):.1%} |")
    seen = report["persona_times_seen"]
    lines += ["", f"Each persona segment is seen {seen['min']}-{seen['max']} times per epoch, with "
              f"{seen['distinct_questions_per_segment'].get('p50', 0)} distinct questions (median).", "",
              "## Answer length (words)", "", "| split | mean | min | p10 | p50 | p90 | max |", "|---|---|---|---|---|---|---|"]
    for split, p in report["answer_words"].items():
        if p:
            lines.append(f"| {split} | {p['mean']} | {p['min']} | {p['p10']} | {p['p50']} | {p['p90']} | {p['max']} |")
    lines += ["", "The model learns the length of its training answers: compare generated lengths against these "
              "(length drift in eval)."]
    answer_from, moved, segment_rows = report.get("answers_from_question") or ("start", 0, 0)
    lines += ["", f"Answers start where their question is answered (`build.answer_from: {answer_from}`): {moved} of "
              f"{segment_rows} passage rows in train start at a later sentence of their passage and run to its end.", ""]
    lines += pairs_section(report, checks or {})
    return "\n".join(lines)


def run(ctx: StageContext, settings: Settings) -> dict:
    rows = artifacts.read_jsonl(ctx.previous / "pairs.jsonl")
    splits, report = build(rows, settings)
    if not splits["train"]:
        raise UserError("build produced no training rows; check the pairs report for rejected questions")
    for split, examples in splits.items():
        artifacts.write_jsonl(ctx.out / f"{split}.jsonl", examples)
    pairs_report = ctx.previous / "report.json"
    checks = artifacts.read_json(pairs_report).get("checks", {}) if pairs_report.exists() else {}
    artifacts.write_text(ctx.out / "dataset_card.md", dataset_card(ctx.ws.name, report, checks))
    for warning in report["warnings"]:
        ctx.log(f"  warning: {warning}")
    after = report["train_after_oversampling"].get("persona", {})
    ctx.log(f"  ratio {report['ratio']}x: {report['rows']['train']} train rows, persona token share "
            f"{report['train_before_oversampling'].get('persona', {}).get('token_share', 0):.1%} -> "
            f"{after.get('token_share', 0):.1%}; held out {report['rows']['heldout']}")
    return report
