"""Question writers for the pairs stage: offline templates, the local base model, or any OpenAI-compatible API.

Each backend proposes questions for a segment (the person's answer); the pairs stage validates
them and asks again for what it rejected.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence

from personatune.errors import UserError

STOPWORDS = set("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each even ever every few for from further get
gets got had has have having he her here hers herself him himself his how i if in into is it its itself just
kind know let like lot make me more most much must my myself no nor not now of off often on once one only or
other our ours out over own pretty quite really right same say see she should so some something still such sure
take than that the their theirs them themselves then there these they thing things think this those through to
too under until up us use used very want was way we well were what when where which while who whom why will with
would yeah yes you your yours yourself going gonna okay ok actually basically also little bit another much many
put want wanna stuff go goes went come comes back kind sort look looks thing lot lots whole enough instead dont
don't it's that's i'm you're i've you'll i'll we're they're there's here's can't won't didn't doesn't isn't""".split())

TEMPLATES: dict[str, list[str]] = {
    "background": ["Can you tell me about {kp}?", "What's your connection to {kp}?", "How did {kp} shape who you are?",
                   "What role did {kp} play in your life?", "Where does {kp} fit into your background?"],
    "story": ["What's the story behind {kp}?", "Can you tell me what happened with {kp}?",
              "What did you learn from {kp}?", "How did {kp} change things for you?", "What do you remember about {kp}?"],
    "opinion": ["What do you think about {kp}?", "What's your take on {kp}?", "Where do you stand on {kp}?",
                "How do you feel about {kp}?", "Is {kp} overrated, in your view?"],
    "working_style": ["How do you approach {kp}?", "What's your process for {kp}?", "How do you usually handle {kp}?",
                      "Why do you work that way with {kp}?", "What does {kp} look like in your routine?"],
    "values": ["Why does {kp} matter to you?", "What do you care about when it comes to {kp}?",
               "What's your rule about {kp}?", "Why are you so firm about {kp}?"],
    "instructional": ["How should I handle {kp} when working on {topic}?", "Can you explain {kp}?",
                      "What should I know about {kp}?", "Any tips on {kp} and {kp2}?",
                      "What's the right way to deal with {kp} for {topic}?", "Why does {kp} matter here?",
                      "I'm working on {topic}. What do I do about {kp}?", "How do {kp} and {kp2} fit together?"],
}

# Questions about the person that need no keyphrase; the similarity check keeps the ones that fit.
GENERIC = {
    "background": ["Can you tell me a bit about yourself?", "Where did you grow up?", "What's your background?",
                   "What did you do before this?", "Tell me about your family.", "Where do you live these days?"],
    "story": ["What's a moment that changed things for you?", "How did you get started?",
              "Tell me about a mistake you learned from.", "What happened that made you work the way you do?",
              "How did this all begin for you?"],
    "opinion": ["What's an opinion of yours that people argue with?", "What do you think most people get wrong?",
                "What's your honest advice here?"],
    "working_style": ["How do you plan your work?", "What does a typical working day look like for you?",
                      "What's your process, step by step?", "What habits keep your work on track?"],
    "values": ["What do you stand for?", "What won't you compromise on?", "What matters most to you in your work?",
               "How do you decide what to recommend?"],
}

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


VERBS = set("""add adjust allow apply ask become becomes begin bend break bring build buy call carry catch change
check choose clamp clean close compress cover create cross cut decide depend do does draw drill drive drop end
expect fall feel fill find finish fit fix flip follow form give glue grab guess hand happen help hit hold keep
knock lay lead learn leave lift line live lock lose love make mark matter mean measure meet mind miss move need
open own pass pay pick place plan play plug press pull push reach read remember remove rest rip run save saw
seem sell send set settle share show shut sit slide slip snap sound spend spin split stand start stay step stick
stop stretch support suppose talk tell tend test thank tighten tilt touch trace try turn understand wait walk
want wash watch wear wipe wish wonder work worry write""".split())


def _content(word: str) -> bool:
    return (word not in STOPWORDS and word not in VERBS and len(word) > 3 and not word.endswith("ly")
            and not (word.endswith("ed") and len(word) > 5) and not word.isdigit())


class Keyphrases:
    """Salient terms of a segment: TF-IDF over noun-like words, plus two-word phrases that recur in the
    archive (a collocation such as "board feet" or "hand plane", not an accident of adjacency)."""

    def __init__(self, texts: Sequence[str]):
        self.df: Counter = Counter()
        for text in texts:
            self.df.update(set(self._terms(text)))
        self.n = max(1, len(texts))

    @staticmethod
    def _terms(text: str) -> list[str]:
        words = [w.lower().strip("'-") for w in _WORD.findall(text)]
        terms = [w for w in words if _content(w)]
        bigrams = [f"{a} {b}" for a, b in zip(words, words[1:]) if _content(a) and _content(b) and a != b]
        return terms + bigrams

    def top(self, text: str, k: int = 6) -> list[str]:
        tf = Counter(self._terms(text))

        def score(term: str) -> float:
            if " " in term and self.df[term] < 2 and tf[term] < 2:
                return 0.0  # a one-off adjacency, not a phrase
            idf = math.log(1 + self.n / (1 + self.df[term]))
            return tf[term] * idf * (1.8 if " " in term else 1.0)

        scored = sorted((t for t in tf if score(t) > 0), key=lambda t: (-score(t), t))
        out: list[str] = []
        for term in scored:
            if any(term in chosen or chosen in term for chosen in out):
                continue
            out.append(term)
            if len(out) == k:
                break
        return out


def topic_of(title: str | None) -> str:
    if not title:
        return "this project"
    topic = re.split(r"[:(\[]| - ", title)[0].strip()
    return topic[:1].lower() + topic[1:] if topic and not topic[:2].isupper() else topic


class TemplateBackend:
    """Offline and deterministic: phrasings per label, filled with the segment's own keyphrases."""

    name = "template"

    def __init__(self, texts: Sequence[str], seed: int = 0):
        self.keyphrases = Keyphrases(texts)
        self.seed = seed

    def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
        kind = segment.get("subtype") if segment["label"] == "persona" else "instructional"
        templates = TEMPLATES.get(kind or "story", TEMPLATES["story"])
        rng = random.Random(f"{self.seed}:{segment['segment_id']}:{attempt}")
        # For persona, ask about the aside itself, not the lesson around it.
        text = segment.get("persona_window") or segment["text"]
        phrases = self.keyphrases.top(text) or self.keyphrases.top(segment["text"]) or ["this"]
        order = templates[:]
        rng.shuffle(order)
        out = []
        for i in range(n):
            template = order[i % len(order)]
            kp = phrases[(i + attempt * n) % len(phrases)]
            kp2 = phrases[(i + attempt * n + 1) % len(phrases)]
            out.append(template.format(kp=kp, kp2=kp2, topic=topic_of(segment.get("title"))))
        if segment["label"] == "persona":
            # Offer more than needed; the stage keeps the n most similar to the answer.
            generic = GENERIC.get(kind or "story", GENERIC["story"])[:]
            rng.shuffle(generic)
            out += generic[:n]
        return out


PROMPT = ("Here is a passage in which {name} speaks:\n\n\"{text}\"\n\nWrite {n} different questions that a viewer "
          "might ask {name}, each of which this passage answers. Address {name} as 'you'. One question per line, "
          "no numbering, nothing else.")


def parse_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-*•]|Q\d*:)\s*", "", line).strip().strip('"')
        if line:
            out.append(line)
    return out


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint: Ollama, a llama.cpp server, vLLM, OpenAI."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str, person: str, timeout: float = 60.0,
                 temperature: float = 0.8):
        if not base_url or not model:
            raise UserError("pairs backend 'openai' needs a base URL and a model: set pairs.openai_base_url and "
                            "pairs.openai_model in persona.yaml, or OPENAI_BASE_URL and PERSONATUNE_OPENAI_MODEL")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.person = model, api_key, person
        self.timeout, self.temperature = timeout, temperature

    def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
        body = {"model": self.model, "temperature": self.temperature,
                "messages": [{"role": "user", "content": PROMPT.format(name=self.person, text=segment["text"], n=n)}]}
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise UserError(f"question endpoint {self.url} answered HTTP {exc.code}: "
                            f"{exc.read()[:200].decode(errors='replace')}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise UserError(f"cannot reach question endpoint {self.url} ({getattr(exc, 'reason', exc)}); "
                            "check pairs.openai_base_url and that the server is running") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"question endpoint {self.url} did not return an OpenAI chat completion") from None
        return parse_lines(content)[:n]


class LocalBackend:
    """The workspace's base model writes the questions (slow on CPU: ~20 tokens/s for SmolLM2-135M)."""

    name = "local"

    def __init__(self, model_spec: str, person: str, max_new_tokens: int = 96, temperature: float = 0.8,
                 seed: int = 0):
        from personatune.registry import load_model

        self.model, self.tokenizer = load_model(model_spec)
        self.model.eval()
        self.person, self.max_new_tokens, self.temperature, self.seed = person, max_new_tokens, temperature, seed
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
        import torch

        prompt = PROMPT.format(name=self.person, text=segment["text"], n=n)
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                      add_generation_prompt=True)
        else:
            text = prompt + "\n1."
        batch = self.tokenizer(text, return_tensors="pt")
        torch.manual_seed(hash((self.seed, segment["segment_id"], attempt)) % (2**31))
        with torch.inference_mode():
            out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=True,
                                      temperature=self.temperature, top_p=0.95,
                                      pad_token_id=self.tokenizer.pad_token_id)
        generated = self.tokenizer.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        return parse_lines(generated)[:n]


def openai_settings(base_url: str, model: str, key_env: str) -> tuple[str, str, str]:
    return (base_url or os.environ.get("OPENAI_BASE_URL", ""),
            model or os.environ.get("PERSONATUNE_OPENAI_MODEL", ""),
            os.environ.get(key_env, "") if key_env else "")
