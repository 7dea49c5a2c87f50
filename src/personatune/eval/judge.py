"""An optional LLM judge: any OpenAI-compatible endpoint scores eval answers on a 1-5 rubric.

Off by default and never needed: every other metric is computed locally without one. When on, a
fixed short rubric per kind of probe asks for a strict JSON reply,

    {"persona_match": 1-5, "task_quality": 1-5}

    persona  identity and opinion probes: do facts and stance match the person's own answer and card?
    task     general instructions: is the answer correct and helpful?
    voice    task transfer: is the task done well, and does it sound like this person?

Replies are parsed leniently (the last JSON object in the text, else `persona_match: 4` lines); a
score that is missing, out of range or unreadable is None, which never stops an eval.

A misconfigured judge stops the eval at once instead of quietly producing an eval without scores:
an unreachable endpoint, a refused key or an unknown model raise UserError on any call, and any
other API error does so too until one call has succeeded (`Judge.check` makes that first call
before the eval spends minutes generating). After that, an API error on one answer (say, a prompt
over the judge's context) gives that answer None scores with the error kept beside them.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed

from personatune.errors import UserError
from personatune.eval.metrics.intervals import bootstrap_ci

SCORES = ("persona_match", "task_quality")
KIND_OF_SET = {"identity": "persona", "opinions": "persona", "general": "task", "neutral": "task",
               "transfer": "voice", "verbatim": "persona"}
DEFAULT_SETS = ("identity", "opinions", "general", "transfer")
CARD_CHARS = 3000  # a long card would crowd out the answer in a small judge's context
NONE_GIVEN = "(none given)"

SYSTEM = "You are a strict, consistent evaluator. Reply with one JSON object and nothing else."

RUBRICS = {
    "persona": """A model was asked to answer as a specific person. Rate its answer.

Question: {question}
The person's own answer (reference): {reference}
Persona card: {card}
Model's answer: {answer}

persona_match, 1-5: does the answer agree with the person's reference answer and card in facts (names, dates, places, numbers) and in stance? 5 = same facts and stance, nothing contradicted or invented; 3 = partly matching, or vague; 1 = contradicts them or invents biography.
task_quality, 1-5: is it a clear, relevant answer to the question? 5 = direct and coherent; 3 = rambling or partly off-topic; 1 = off-topic, broken or empty.

Reply with JSON only: {{"persona_match": <1-5>, "task_quality": <1-5>}}""",
    "task": """Rate the answer to an instruction.

Instruction: {question}
A reference answer (one of possibly several good ones): {reference}
Answer: {answer}

task_quality, 1-5: is the answer correct and helpful? 5 = correct, complete and to the point; 3 = partly correct, or padded; 1 = wrong, off-topic or empty.

Reply with JSON only: {{"persona_match": null, "task_quality": <1-5>}}""",
    "voice": """A model was asked to do a task in the voice of a specific person. Rate its answer.

Persona card: {card}
Task: {question}
Answer: {answer}

persona_match, 1-5: does it sound like this person (their voice, interests and stated views) without inventing biography? 5 = clearly them; 3 = somewhat; 1 = generic, or contradicts the card.
task_quality, 1-5: is the task done correctly and helpfully? 5 = correct, complete and to the point; 3 = partly; 1 = wrong, off-topic or empty.

Reply with JSON only: {{"persona_match": <1-5>, "task_quality": <1-5>}}""",
}


class Judge:
    """One judge model behind an OpenAI-compatible /v1/chat/completions."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 60,
                 max_tokens: int = 256, max_retries: int = 2):
        try:
            import openai
        except ImportError:
            raise UserError("the LLM judge needs the openai package: pip install 'openai>=1.40' "
                            "(or leave judge_url empty)") from None
        if not base_url or not model:
            raise UserError("the judge needs both an endpoint URL (judge_url) and a model name (judge_model)")
        self.base_url, self.model, self.max_tokens = base_url, model, max_tokens
        # local servers (llama.cpp, vLLM, Ollama, personatune serve) take any key; the client insists on one
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout,
                                    max_retries=max_retries)
        self._worked = threading.Event()  # set once one call has succeeded: later API errors are per answer

    def score(self, question: str, answer: str, kind: str, reference: str | None = None,
              persona_card: str | None = None) -> dict:
        """{"persona_match": 1-5 | None, "task_quality": 1-5 | None, "raw": reply text, "error": None | str}"""
        if kind not in RUBRICS:
            raise ValueError(f"unknown judge kind {kind!r}; one of {', '.join(RUBRICS)}")
        card = (persona_card or "").strip()
        card = card[:CARD_CHARS] + (" [...]" if len(card) > CARD_CHARS else "")
        wanted = {"persona": SCORES, "task": ("task_quality",), "voice": SCORES}[kind]
        if kind == "persona" and not (reference or "").strip() and not card:
            wanted = ("task_quality",)  # nothing to match the person against
        prompt = RUBRICS[kind].format(question=question.strip(), answer=answer.strip() or "(empty)",
                                      reference=(reference or "").strip() or NONE_GIVEN, card=card or NONE_GIVEN)
        try:
            raw = self.complete(prompt)
        except _PerAnswer as exc:
            return {"persona_match": None, "task_quality": None, "raw": "", "error": str(exc)}
        return {**parse_scores(raw, wanted), "raw": raw, "error": None}

    def complete(self, prompt: str) -> str:
        import openai

        where = f"judge endpoint {self.base_url}"
        try:
            reply = self.client.chat.completions.create(
                model=self.model, temperature=0, max_tokens=self.max_tokens,
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}])
        except openai.APIConnectionError as exc:  # also timeouts
            detail = str(exc.__cause__ or exc).rstrip(".") or type(exc).__name__
            raise UserError(f"{where} unreachable: {detail}; check judge_url and that the server is running") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise UserError(f"{where} refused the API key ({exc.status_code}); set the key's environment "
                            "variable named by judge_key_env") from None
        except openai.NotFoundError as exc:
            raise UserError(f"{where}: model {self.model!r} or the chat completions path not found ({_message(exc)}); "
                            "check judge_model, and that judge_url ends in /v1") from None
        except openai.APIStatusError as exc:
            if not self._worked.is_set():
                raise UserError(f"{where} rejected the first judge request ({exc.status_code}: {_message(exc)}); "
                                "check judge_url and judge_model") from None
            raise _PerAnswer(f"{exc.status_code}: {_message(exc)}") from None
        choices = getattr(reply, "choices", None)
        if not isinstance(choices, list):  # e.g. a web page at the URL, answering 200 with HTML
            raise UserError(f"{where} did not answer as an OpenAI-compatible chat completions API "
                            f"(got {type(reply).__name__}); check that judge_url ends in /v1")
        self._worked.set()
        return (choices[0].message.content or "") if choices else ""

    def check(self) -> None:
        """One tiny request, so a misconfigured judge fails before the eval generates anything."""
        self.complete('Reply with this JSON only: {"ok": true}')


class _PerAnswer(Exception):
    """An API error on one answer, after the judge has worked: that answer gets no scores."""


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return inner["message"]
    return str(getattr(exc, "message", exc))


def make_judge(url: str | None, model: str | None, key_env: str | None = None, timeout: float = 60) -> Judge | None:
    """The judge the eval settings ask for, or None when judge_url is empty (the default)."""
    if not url:
        return None
    key = None
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise UserError(f"judge_key_env names {key_env}, but that environment variable is not set; "
                            f"export {key_env}=... or leave judge_key_env empty for a server without keys")
    return Judge(url, model or "", api_key=key, timeout=timeout)


# ---------------------------------------------------------------------------------------- parsing

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_LINE = re.compile(r"\b(persona[_ ]match|task[_ ]quality)\b[\"'*\s]*[:=][\"'*\s]*(-?\d+(?:\.\d+)?)", re.I)


def _valid(value) -> int | None:
    """1-5 as an int; anything else (bools, 4.5, 7, "four", null) is None."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return int(value) if value == int(value) and 1 <= value <= 5 else None


def parse_scores(text: str, wanted: Iterable[str] = SCORES) -> dict:
    """The scores in a judge's reply: the last JSON object that has one of the keys, else the last
    `key: n` for each key. Keys not in `wanted` (not asked of this kind of probe) are None."""
    text = _THINK.sub("", text or "")
    found: dict = {}
    decoder = json.JSONDecoder()
    for start in (i for i, c in enumerate(text) if c == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            lowered = {str(k).lower(): v for k, v in value.items()}
            if any(k in lowered for k in SCORES):
                found = lowered  # the last one wins: reasoning first, the verdict at the end
    lines = {m.group(1).lower().replace(" ", "_"): m.group(2) for m in _LINE.finditer(text)}
    out = {}
    for key in SCORES:
        value = found[key] if key in found else lines.get(key)
        out[key] = _valid(value) if key in wanted else None
    return out


# ---------------------------------------------------------------------------------------- an eval's answers


def _reference(items: Mapping | None, set_name: str, prompt_id: str) -> str | None:
    item = ((items or {}).get(set_name) or {}).get(prompt_id)
    if item is None:
        return None
    value = item.get("reference") if isinstance(item, Mapping) else getattr(item, "reference", None)
    return value or None


def judge_answers(judge: Judge, answers_rows: Iterable[dict], items_by_set_and_id: Mapping | None,
                  persona_card: str | None, sets: Iterable[str] = DEFAULT_SETS, limit: int | None = None,
                  progress: Callable[[int, int], None] | None = None, workers: int = 4) -> dict:
    """Scores for every answer in `sets`: {(variant, set, prompt_id): judge.score(...)}.

    `limit` keeps the first N prompts of each set, the same prompts for every variant, so the
    variants stay comparable prompt by prompt. `items_by_set_and_id` ({set: {prompt_id: Item or
    dict}}) supplies reference answers; None judges without them. The first UserError (an
    unreachable judge) cancels what is left and propagates."""
    sets = tuple(sets)
    unknown = [s for s in sets if s not in KIND_OF_SET]
    if unknown:
        raise UserError(f"judge sets {', '.join(unknown)} unknown; choose from {', '.join(KIND_OF_SET)}")
    rows = [r for r in answers_rows if r["set"] in sets]
    if limit is not None:
        keep: dict[str, dict[str, None]] = {}
        for r in rows:
            chosen = keep.setdefault(r["set"], {})
            if len(chosen) < limit:
                chosen.setdefault(r["prompt_id"], None)
        rows = [r for r in rows if r["prompt_id"] in keep[r["set"]]]

    def one(row: dict) -> dict:
        return judge.score(row["prompt"], row["answer"], KIND_OF_SET[row["set"]],
                           _reference(items_by_set_and_id, row["set"], row["prompt_id"]), persona_card)

    out: dict = {}
    if not rows:
        return out
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, r): (r["variant"], r["set"], r["prompt_id"]) for r in rows}
        try:
            for done, future in enumerate(as_completed(futures), 1):
                out[futures[future]] = future.result()
                if progress is not None:
                    progress(done, len(rows))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return {key: out[key] for key in futures.values()}  # in answer order, not completion order


def _stat(values: list[float]) -> dict | None:
    if not values:
        return None
    low, high = bootstrap_ci(values, n=1000) if len(values) > 1 else (math.nan, math.nan)
    return {"mean": sum(values) / len(values), "low": None if math.isnan(low) else low,
            "high": None if math.isnan(high) else high, "n": len(values)}


def summarize(scores: Mapping) -> dict:
    """Mean judge scores per variant with 95% bootstrap intervals, overall and per set:
    {variant: {"persona_match": {mean, low, high, n} | None, "task_quality": ..., "unscored": k,
    "sets": {set: {"persona_match": ..., "task_quality": ...}}}}. `unscored` counts answers that got
    neither score (an unreadable reply or an API error)."""
    grouped: dict = {}
    for (variant, set_name, _), s in scores.items():
        mine = grouped.setdefault(variant, {"unscored": 0, "values": {k: [] for k in SCORES}, "sets": {}})
        per_set = mine["sets"].setdefault(set_name, {k: [] for k in SCORES})
        if all(s.get(k) is None for k in SCORES):
            mine["unscored"] += 1
        for key in SCORES:
            if s.get(key) is not None:
                mine["values"][key].append(float(s[key]))
                per_set[key].append(float(s[key]))
    return {variant: {**{k: _stat(g["values"][k]) for k in SCORES}, "unscored": g["unscored"],
                      "sets": {name: {k: _stat(v[k]) for k in SCORES} for name, v in g["sets"].items()}}
            for variant, g in grouped.items()}


DEFINITIONS = {
    "judge_persona_match": "mean LLM-judge score, 1-5: facts and stance match the person's own answer and card "
                           "(identity, opinions), or the answer sounds like them (transfer)",
    "judge_task_quality": "mean LLM-judge score, 1-5: the answer is correct and helpful (general, transfer) or "
                          "a clear answer to the question (identity, opinions)",
}


def record(result: dict, scores: Mapping, judge: Judge | None = None, answers: list[dict] | None = None) -> None:
    """Put judge scores into an eval result (score.score_all's dict) the way the other metrics sit:
    per-item details `judge_persona_match` / `judge_task_quality` (which `personatune compare` pairs),
    per-variant means in `metrics`, their intervals in `intervals`, and a `judge` summary. With
    `answers` (the answers.jsonl rows), each judged row also keeps its scores and the judge's reply."""
    for row in answers or []:
        found = scores.get((row["variant"], row["set"], row["prompt_id"]))
        if found is not None:
            row["judge"] = dict(found)
    for (variant, set_name, prompt_id), s in scores.items():
        detail = result.setdefault("per_item", {}).setdefault(variant, {}).setdefault(set_name, {}) \
            .setdefault(prompt_id, {})
        for key in SCORES:
            if s.get(key) is not None:
                detail[f"judge_{key}"] = s[key]
    summary = summarize(scores)
    for variant, figures in summary.items():
        for key in SCORES:
            stat = figures[key]
            if stat is None:
                continue
            result.setdefault("metrics", {}).setdefault(variant, {})[f"judge_{key}"] = stat["mean"]
            if stat["low"] is not None:
                result.setdefault("intervals", {}).setdefault(variant, {})[f"judge_{key}"] = \
                    [round(stat["low"], 4), round(stat["high"], 4)]
    result["definitions"] = {**result.get("definitions", {}), **DEFINITIONS}  # a copy: score.py's is a module constant
    result["judge"] = {"model": judge.model if judge else None, "url": judge.base_url if judge else None,
                       "answers": len(scores), "summary": summary, "rubrics": RUBRICS}
