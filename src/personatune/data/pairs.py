"""pairs: give every persona and instructional segment N distinct user questions; the segment is the answer.

Several questions per answer give the model several paths into the same content, so it recites
less verbatim. Every question is validated (a question, not a copy of the answer, related to it,
distinct from its siblings) and must find its own answer: among all of the workspace's segments,
BM25 ranks the answer's segment in the top 3 for it (the round trip). Rejected ones are replaced
by the next proposal, then reported, never silently dropped. Persona segments also yield fact
pairs: a specific question answered by the one or two sentences that hold the fact. Optional
contrastive pairs come from the probes file's "does_not_have" facts, answered with a grounded denial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import yaml

from personatune import artifacts
from personatune.data.answer_start import answer_start
from personatune.data.chat_endpoint import endpoint_settings
from personatune.data.fact_rows import fact_rows
from personatune.data.pair_checks import CHECKS, REQUEST, Checks, RoundTrip, lexical_problem
from personatune.data.question_forms import PLAIN_PERSONA_QUESTIONS
from personatune.data.questions import LocalBackend, OpenAIBackend, ProposalCache
from personatune.data.retrieval import BM25
from personatune.data.stage import StageContext
from personatune.data.template_questions import TemplateBackend
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 11  # 8: answer_starts; 9: back over "And", "So"; 10: "Mr." ends none; 11: "What editor do you use?", facts_from


@dataclass
class Settings(BaseSettings):
    backend: str = setting("template", choices=("template", "local", "openai"),
                           help="who writes the questions: template (offline), local (the base model), "
                                "openai (any OpenAI-compatible endpoint)")
    questions_per_segment: int = setting(3, help="distinct questions per answer")
    max_attempts: int = setting(4, help="rounds of asking again for rejected questions before reporting them")
    include_labels: list[str] = setting(default_factory=lambda: ["persona", "instructional"],
                                        help="segment labels that become training pairs")
    similarity_check: str = setting("none", choices=("all", "persona", "none"),
                                    help="which questions must also pass the embedding-similarity check (MiniLM "
                                         "costs ~5 ms a question on 2 cores; the round trip already asks that a "
                                         "question find its own answer)")
    min_similarity: float = setting(0.15, help="minimum cosine similarity between question and answer")
    min_overlap: float = setting(0.15, help="minimum share of a question's content words found in the answer")
    max_copy: float = setting(0.9, help="maximum share of a question's word 4-grams copied from the answer")
    round_trip_top_k: int = setting(3, help="a question must rank its own answer's segment in this many BM25 hits "
                                            "among all segments (0: no round-trip check)")
    fact_pairs: int = setting(6, help="fact pairs per persona segment at most: the sentence holding a specific fact "
                                      "answers its questions, then statements about themselves, asked back (0: none)")
    facts_from: str = setting("persona", choices=("persona", "every"),
                              help="segments whose facts become fact pairs: persona, or every segment (outside "
                                   "persona, only what the person says of themselves: \"I use Vim as my editor\")")
    slot_questions: list[str] = setting(default_factory=list,
                                        help="labels whose segments with no question read off their sentences get "
                                             "noun-phrase templates (rated far worse); else persona gets its plain "
                                             "question and the rest none")
    plain_questions: bool = setting(True, help="give a persona segment with no question at all its subtype's plain "
                                               "question (\"How do you like to work?\"): it seldom fits, rated, "
                                               "but else the person's facts in it never train")
    contrastive: bool = setting(True, help="add denial pairs from the probes file's does_not_have entries")
    seed: int = setting(0, help="seed for template choice")
    openai_base_url: str = setting("", help="endpoint for backend openai (else $OPENAI_BASE_URL)")
    openai_model: str = setting("", help="model for backend openai (else $PERSONATUNE_OPENAI_MODEL)")
    openai_api_key_env: str = setting("OPENAI_API_KEY", help="environment variable holding the API key")
    openai_timeout: float = setting(60.0, help="seconds to wait for one answer of the endpoint")
    embedder: str = setting("all-minilm-l6-v2", help="embedding model for the similarity check")

    def problems(self) -> list[str]:
        bad = set(self.include_labels) - {"persona", "instructional", "other"}
        return [message for failed, message in (
            (not 1 <= self.questions_per_segment <= 20, "questions_per_segment must be between 1 and 20"),
            (self.round_trip_top_k < 0 or self.fact_pairs < 0, "round_trip_top_k and fact_pairs must be >= 0"),
            (self.max_attempts < 1, "max_attempts must be >= 1"),
            (bool(bad), f"include_labels has unknown labels {sorted(bad)}")) if failed]


def make_backend(ctx: StageContext, settings: Settings, index: BM25, texts: list[str]):
    if settings.backend == "template":
        return TemplateBackend(texts, seed=settings.seed, person=ctx.ws.name, index=index,
                               slot_labels=settings.slot_questions)
    if settings.backend == "openai":
        url, model, key = endpoint_settings(settings.openai_base_url, settings.openai_model, settings.openai_api_key_env)
        backend = OpenAIBackend(url, model, key, ctx.ws.name, timeout=settings.openai_timeout)
        writer = {"backend": "openai", "model": model, "temperature": backend.temperature}  # not the URL: a moved server is the same model
    else:
        backend = LocalBackend(ctx.ws.base_model, ctx.ws.name, seed=settings.seed)
        writer = {"backend": "local", "model": ctx.ws.base_model, "seed": settings.seed}
    from personatune.data.questions import PROMPT_VERSION

    return ProposalCache(ctx.ws.root / "cache" / "questions.jsonl", {**writer, "prompt": PROMPT_VERSION}).wrap(backend)


def load_probes(path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: probes file is not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: probes file must be a mapping with identity / opinions / does_not_have lists")
    for section in ("identity", "opinions", "does_not_have"):
        if not isinstance(items := data.get(section) or [], list):
            raise UserError(f"{path}: `{section}` must be a list")
        for number, item in enumerate(items, 1):
            need = ("claim", "questions", "answer") if section == "does_not_have" else ("question", "answer")
            missing = [k for k in need if not item.get(k)] if isinstance(item, dict) else list(need)
            if missing:
                raise UserError(f"{path}: {section} item {number} lacks {', '.join(missing)}")
            if not isinstance(also := item.get("rephrased") or [], list) or not all(isinstance(q, str) for q in also):
                raise UserError(f"{path}: {section} item {number}: `rephrased` must be a list of questions")
    return data


def contrastive_rows(path) -> list[dict]:
    rows = []
    for number, item in enumerate(load_probes(path).get("does_not_have") or [], 1):
        questions = item["questions"] if isinstance(item["questions"], list) else [item["questions"]]
        rows.append({"segment_id": f"contrastive-{number:03d}", "kind": "contrastive", "label": "persona",
                     "subtype": "background", "text": " ".join(item["answer"].split()),
                     "questions": [" ".join(q.split()) for q in questions], "rejected": [],
                     "source": str(path), "claim": item["claim"], "evidence": item.get("source"),
                     "title": None, "start": None, "offset": None})
    return rows


def inputs(ws, settings: Settings) -> dict:
    probes = ws.path_setting("probes")
    out: dict = {"person": ws.name}
    if settings.backend == "local":
        out["model"] = ws.base_model
    if settings.contrastive and probes is not None:
        if not probes.exists():
            raise UserError(f"{ws.config_path}: probes file {probes} does not exist")
        out["probes"] = artifacts.sha256_file(probes)
    return out


def run(ctx: StageContext, settings: Settings) -> dict:
    everything = artifacts.read_jsonl(ctx.previous / "labels.jsonl")
    segments = [s for s in everything if s["label"] in settings.include_labels]
    if not segments:
        raise UserError(f"no segments labelled {settings.include_labels}; check the label stage report")
    index = BM25([s["text"] for s in everything])
    trip = RoundTrip(index, {s["segment_id"]: i for i, s in enumerate(everything)}, settings.round_trip_top_k)
    backend = make_backend(ctx, settings, index, [s["text"] for s in everything])
    embedder = None
    if settings.similarity_check != "none":
        from personatune.embed import get_embedder
        embedder = get_embedder(settings.embedder)
    n = settings.questions_per_segment
    checks = Checks()
    accepted: list[list[str]] = [[] for _ in segments]
    rejected: list[list[dict]] = [[] for _ in segments]
    needs_embedding = [embedder is not None and (settings.similarity_check == "all" or seg["label"] == "persona"
                                                 or settings.backend != "template") for seg in segments]
    answer_vecs: dict[int, np.ndarray] = {}
    pending = list(range(len(segments)))
    started = time.time()
    empty_answers = 0
    for attempt in range(settings.max_attempts):
        # One round: propose for every segment still short, check words and the round trip, then embed
        # all the survivors in one batch (MiniLM pays for padding; one call per segment is 3x slower).
        to_embed: list[tuple[int, str]] = []
        for number, i in enumerate(pending, 1):
            seg = segments[i]
            missing = n - len(accepted[i])
            proposals = [" ".join(p.split()) for p in backend.propose(seg, missing, attempt)]
            proposals = [p for p in proposals if p not in accepted[i]]
            if settings.backend != "template":
                empty_answers = _watch_writer(proposals, seg, empty_answers, accepted, settings)
                proposals += [""] * max(0, missing - len(proposals))
            passed: list[str] = []
            for q in proposals:
                # Shared words are a proxy for relatedness; where embeddings judge it, they decide.
                problem = lexical_problem(q, seg["text"], settings, accepted[i] + passed,
                                          check_overlap=not needs_embedding[i])
                if problem:
                    rejected[i].append({"question": q, "reason": problem, "attempt": attempt})
                    checks.failed(seg["label"], CHECKS.get(problem, "form"), problem)
                    continue
                checks.passed(seg["label"], "form", "not a copy", "distinct")
                if not trip.finds(q, seg["segment_id"]):
                    rejected[i].append({"question": q, "reason": "round trip: its answer is not in the top "
                                                                 f"{settings.round_trip_top_k}", "attempt": attempt,
                                        "round_trip": True})
                    checks.failed(seg["label"], "round trip", "round trip")
                    continue
                checks.passed(seg["label"], "round trip")
                passed.append(q)
                if needs_embedding[i]:
                    to_embed.append((i, q))
                else:
                    checks.passed(seg["label"], "related")
                    accepted[i].append(q)
            if settings.backend != "template" and (number % 20 == 0 or number == len(pending)):
                rate = number / max(time.time() - started, 1e-6)
                ctx.log(f"  round {attempt + 1}: {number}/{len(pending)} segments ({rate:.1f}/s, "
                        f"ETA {(len(pending) - number) / max(rate, 1e-6):.0f}s)")
        if to_embed:
            new_answers = sorted({i for i, _ in to_embed} - set(answer_vecs))
            for i, vec in zip(new_answers, embedder.encode([segments[i]["text"] for i in new_answers])):
                answer_vecs[i] = vec
            question_vecs = embedder.encode([q for _, q in to_embed])
            scored = sorted(((float(vec @ answer_vecs[i]), i, q) for (i, q), vec in zip(to_embed, question_vecs)),
                            key=lambda t: -t[0])
            for sim, i, q in scored:  # most similar first, so extra proposals lose to better ones
                if sim < settings.min_similarity:
                    rejected[i].append({"question": q, "reason": f"similarity {sim:.2f} below {settings.min_similarity}",
                                        "attempt": attempt})
                    checks.failed(segments[i]["label"], "related", "low embedding similarity")
                elif len(accepted[i]) < n:
                    checks.passed(segments[i]["label"], "related")
                    accepted[i].append(q)
        pending = [i for i in pending if len(accepted[i]) < n]
        ctx.log(f"  round {attempt + 1}: {len(segments) - len(pending)}/{len(segments)} segments have {n} questions "
                f"({time.time() - started:.1f}s)")
        if not pending:
            break
    # A segment none of whose questions finds it (its twin says the same) keeps its best well-formed one: its
    # words still belong in training. Counted, not hidden.
    unfound, plain = 0, 0
    for i in range(len(segments)):
        if not accepted[i]:
            fallback = next((r["question"] for r in rejected[i] if r.get("round_trip")), None)
            if fallback:
                accepted[i].append(fallback)
                unfound += 1
            elif segments[i]["label"] == "persona" and settings.plain_questions:
                # Else it would never train, nor the facts it holds (the example's finger and shop); rated, a
                # plain question seldom fits (bench/pair_quality.py).
                accepted[i].append(PLAIN_PERSONA_QUESTIONS.get(segments[i].get("subtype") or "story",
                                                               PLAIN_PERSONA_QUESTIONS["story"]))
                plain += 1
    rows = []
    for i, seg in enumerate(segments):
        rows.append({**{k: seg.get(k) for k in ("segment_id", "doc_id", "key", "source", "title", "format", "start",
                                                 "end", "offset", "label", "subtype", "score", "tokens", "words")},
                     "kind": "segment", "text": seg["text"], "questions": accepted[i][:n],
                     "answer_starts": [answer_start(seg["text"], q, index.idf) for q in accepted[i][:n]],
                     "rejected": rejected[i]})
    facts = fact_rows(segments, everything, backend, settings, checks) \
        if hasattr(backend, "facts") else []  # the offline writer and the openai backend; not the local model
    rows.extend(facts)
    probes = ctx.ws.path_setting("probes")
    contrastive = contrastive_rows(probes) if settings.contrastive and probes is not None else []
    rows.extend(contrastive)
    artifacts.write_jsonl(ctx.out / "pairs.jsonl", rows)
    short = [r["segment_id"] for r in rows if len(r["questions"]) < n and r["kind"] == "segment"]
    none = [r["segment_id"] for r in rows if not r["questions"]]
    if short:
        ctx.log(f"  {len(short)} segments got fewer than {n} valid questions ({len(none)} got none); "
                "see report.json `short_segments`")
    if plain:
        ctx.log(f"  {plain} persona segments got only their subtype's plain question (the writer found nothing "
                "to ask; report.json `persona_plain_question`)")
    if unfound:
        ctx.log(f"  {unfound} segments kept one question that does not find them (no question did; "
                "report.json `kept_without_round_trip`)")
    if facts:
        ctx.log(f"  {len(facts)} fact pairs from {len({r['parent'] for r in facts})} persona segments")
    return {"backend": settings.backend, "segments": len(segments), "contrastive_pairs": len(contrastive),
            "fact_pairs": len(facts), "questions": sum(len(r["questions"]) for r in rows),
            "rejected": sum(checks.reasons.values()), "rejected_by_reason": dict(checks.reasons),
            "checks": checks.report(), "kept_without_round_trip": unfound, "persona_plain_question": plain, "short_segments": short,
            "segments_without_questions": none}


def _watch_writer(proposals: list[str], seg: dict, empty: int, accepted: list[list[str]], settings: Settings) -> int:
    """A model that answers with no question at all, segment after segment, is misconfigured: say so once."""
    if any(p.endswith("?") or REQUEST.match(p) for p in proposals):
        return 0
    empty += 1
    if empty >= 5 and not any(accepted):
        said = "; ".join(proposals)[:160] or "nothing"
        raise UserError(f"the {settings.backend} question writer answered no question for {empty} segments in a row "
                        f"(last answer: {said!r}); check the model (pairs.openai_model) or use backend: template")
    return empty
