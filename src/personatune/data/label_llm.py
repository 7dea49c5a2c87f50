"""label's optional LLM pass (`label: {backend: openai}`): a language model labels each segment against
the written definition of persona, through any OpenAI-compatible endpoint.

Off by default. Its answers go through the same checks as every label (one of persona,
instructional, other; a persona needs a known subtype); an answer that fails them is asked once
more, then the classifier's label stays and the segment is counted as unusable. Answers are cached
per segment text in DIR/cache/labels.jsonl, so a rerun after a timeout or Ctrl-C resumes. Where
the model and the classifier disagree, the segment is borderline and offered in `label --review`.
"""

from __future__ import annotations

import json
import re

from personatune.data.chat_endpoint import complete, endpoint_settings
from personatune.data.label_cues import SUBTYPES
from personatune.data.questions import ProposalCache
from personatune.errors import UserError

PROMPT_VERSION = 1
LABELS = ("persona", "instructional", "other")
PROMPT = """You label passages of {name}'s own archive (videos, posts, talks, letters) for a model that will learn to \
answer as {name}.

persona: {name} speaking about themself in their own voice: their background (where they grew up, studied, worked, \
their family), opinions stated as their own, their working style (the tools, habits and process they use), stories \
from their life or career, what they value.
Not persona: narration of what they are doing right now ("I'll show you how to...", "here I create a function"), \
generic advice with no stance of theirs, explanations, news, and anything in someone else's words (a host, a guest, \
a quoted letter).
instructional: teaches or explains something. other: housekeeping (sponsors, "subscribe"), fragments.

Passage:
"{text}"

Answer with one JSON object and nothing else:
{{"label": "persona" or "instructional" or "other", "subtype": one of {subtypes} (persona only, else null), \
"reason": "a few words"}}"""


def parse_answer(text: str) -> dict | None:
    """The model's JSON verdict if it passes the checks, else None."""
    match = re.search(r"\{.*\}", text, flags=re.S)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("label") not in LABELS:
        return None
    if data["label"] == "persona" and data.get("subtype") not in SUBTYPES:
        return None
    return {"label": data["label"], "subtype": data.get("subtype") if data["label"] == "persona" else None,
            "reason": " ".join(str(data.get("reason") or "").split())[:160]}


class Endpoint:
    """Asks one verdict per segment; `propose` is the interface ProposalCache wraps."""

    name = "openai"

    def __init__(self, settings, person: str):
        self.url, self.model, self.key = endpoint_settings(settings.openai_base_url, settings.openai_model,
                                                           settings.openai_api_key_env)
        if not self.url or not self.model:
            raise UserError("label backend 'openai' needs a base URL and a model: set label.openai_base_url and "
                            "label.openai_model in persona.yaml, or OPENAI_BASE_URL and PERSONATUNE_OPENAI_MODEL")
        self.chat_url = self.url.rstrip("/") + "/chat/completions"
        self.person, self.timeout = person, settings.openai_timeout

    def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
        prompt = PROMPT.format(name=self.person, text=segment["text"], subtypes=", ".join(SUBTYPES))
        return [complete(self.chat_url, self.model, self.key, prompt, timeout=self.timeout,
                         temperature=0.0 if attempt == 0 else 0.7, what="label endpoint", settings="label")]


def llm_pass(rows: list[dict], settings, ws, log) -> dict:
    """Relabel every segment the automatic passes labelled (not other voices, not too short) by the model."""
    endpoint = Endpoint(settings, ws.name)
    asker = ProposalCache(ws.root / "cache" / "labels.jsonl",
                          {"backend": "openai", "url": endpoint.url, "model": endpoint.model,
                           "prompt": PROMPT_VERSION}).wrap(endpoint)
    counts = {"asked": 0, "unusable": 0, "agreed_with_classifier": 0}
    failures_in_a_row = 0
    for row in rows:
        if row["labelled_by"] != "auto" or row.get("voice") == "other" or len(row["text"].split()) < settings.min_words:
            continue
        counts["asked"] += 1
        verdict, said = None, ""
        for attempt in range(2):
            said = asker.propose({"text": row["text"], "segment_id": row["segment_id"]}, 1, attempt)[0]
            verdict = parse_answer(said)
            if verdict:
                break
        if verdict is None:
            counts["unusable"] += 1
            failures_in_a_row += 1
            if failures_in_a_row >= 5 and counts["unusable"] == counts["asked"]:
                raise UserError(f"label endpoint {endpoint.url} ({endpoint.model}) gave no usable label for "
                                f"{failures_in_a_row} segments in a row (last answer: {said[:120]!r}); check "
                                "label.openai_model, or use label backend: classifier")
            continue
        failures_in_a_row = 0
        classifier_persona = row["label"] == "persona"
        counts["agreed_with_classifier"] += (verdict["label"] == "persona") == classifier_persona
        row.update(label=verdict["label"], subtype=verdict["subtype"], labelled_by="llm",
                   borderline=(verdict["label"] == "persona") != classifier_persona,
                   reason=f"{verdict['label']}" + (f" ({verdict['subtype']})" if verdict["subtype"] else "")
                   + f" by {endpoint.model}: {verdict['reason'] or 'no reason given'}; classifier {row['score']:.2f}")
    log(f"  {endpoint.model} labelled {counts['asked'] - counts['unusable']} of {counts['asked']} segments "
        f"({counts['unusable']} unusable answers kept the classifier's label), agreeing with the classifier on "
        f"{counts['agreed_with_classifier']}")
    return counts
