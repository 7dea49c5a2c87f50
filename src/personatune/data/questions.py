"""Question writers that ask a language model: any OpenAI-compatible API, or the workspace's base model.

Each backend proposes questions for a segment (the person's answer); the pairs stage validates
them and asks again for what it rejected. The `openai` backend also names a persona segment's facts,
each with a question and the sentence of the passage that states it (kept only where the passage holds
that sentence word for word). The offline default is `template_questions`.
Answers of a model are cached per segment (`ProposalCache`), so a rerun after a crash, a timeout
or Ctrl-C asks only for what is not answered yet.
"""

from __future__ import annotations

import json
import re

from personatune.data.chat_endpoint import complete
from personatune.errors import UserError

PROMPT_VERSION = 2
PROMPT = """Below is a passage in which {name} speaks, in their own words.

"{text}"

Write {n} different questions that {asker} might ask {name}, each of which this passage answers. {focus}
Rules: address {name} as "you"; each question is one natural, grammatical sentence ending with "?"; ask about
what this passage actually says, specifically enough that it is the answer; never mention "the passage",
"the text" or {name}'s name; the {n} questions must ask different things.
One question per line, no numbering, nothing else."""
FOCUS = {
    "persona": ("a fan", "The passage is about {name} themself (background, opinions, way of working, a story "
                         "from their life, or what they value): ask about that."),
    "instructional": ("a student", "The passage explains something: ask what a learner would ask to get this "
                                   "explanation."),
}


FACT_PROMPT_VERSION = 1
FACT_PROMPT = """Below is a passage in which {name} speaks about themself, in their own words.

"{text}"

List up to {n} specific facts about {name} that this passage states: where they come from or live, dates, names,
numbers, firsts, what they use or do. For each fact write one line: a question a fan might ask {name} about it
(address {name} as "you"; one natural sentence ending with "?"; specific enough to mean something without the
passage), then " || ", then the sentence of the passage that states the fact, copied exactly. Only facts the
passage states. Nothing else."""


def parse_facts(text: str, passage: str) -> list[tuple[str, str, int]]:
    """(question, the passage's own sentence, its position) for each line whose sentence the passage really
    holds: the answer is always the person's words, whatever the model wrote after "||"."""
    from personatune.data.template_questions import sentences

    own = sentences(passage)
    squash = [" ".join(s.split()).lower() for s in own]
    out: list[tuple[str, str, int]] = []
    for line in parse_lines(text):
        if "||" not in line:
            continue
        question, quoted = (part.strip().strip('"') for part in line.split("||", 1))
        quoted = " ".join(quoted.split()).lower().rstrip(".!?")
        found = next((i for i, s in enumerate(squash) if len(quoted) >= 12 and quoted in s), None)
        if question.endswith("?") and found is not None and all(found != f for _, _, f in out):
            out.append((question, own[found], found))
    return out


def prompt_for(segment: dict, person: str, n: int) -> str:
    asker, focus = FOCUS["persona" if segment.get("label") == "persona" else "instructional"]
    return PROMPT.format(name=person, text=segment["text"], n=n, asker=asker, focus=focus.format(name=person))


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
        content = complete(self.url, self.model, self.api_key, prompt_for(segment, self.person, n),
                           timeout=self.timeout, temperature=self.temperature, what="question endpoint",
                           settings="pairs")
        return parse_lines(content)[:n]

    def facts(self, segment: dict, limit: int) -> list:
        """Fact pairs for a persona segment: the model names the facts and asks for them, the passage answers."""
        from personatune.data.template_questions import Fact

        content = complete(self.url, self.model, self.api_key,
                           FACT_PROMPT.format(name=self.person, text=segment["text"], n=limit),
                           timeout=self.timeout, temperature=self.temperature, what="question endpoint",
                           settings="pairs")
        return [Fact([q], answer, at) for q, answer, at in parse_facts(content, segment["text"])[:limit]]


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

        prompt = prompt_for(segment, self.person, n)
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


class ProposalCache:
    """What a model answered, per (writer, segment text, count, round), in an append-only `KeyedLog`
    that survives a crash mid-stage, so a rerun resumes instead of asking again."""

    def __init__(self, path, writer: dict):
        from personatune.artifacts import KeyedLog

        self.log = KeyedLog(path)
        self.writer = json.dumps(writer, sort_keys=True)

    def key(self, segment: dict, n: int, attempt: int) -> str:
        from personatune.artifacts import sha256_text

        return sha256_text(f"{self.writer}|{segment.get('label')}|{n}|{attempt}|{segment['text']}")

    def wrap(self, backend):
        cache = self

        class Cached:
            name = backend.name

            def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
                key = cache.key(segment, n, attempt)
                if key not in cache.log:
                    cache.log.put(key, backend.propose(segment, n, attempt))
                return cache.log[key]

        if hasattr(backend, "facts"):
            from personatune.data.template_questions import Fact

            def facts(self, segment: dict, limit: int) -> list:
                key = f"facts{FACT_PROMPT_VERSION}|" + cache.key(segment, limit, 0)
                if key not in cache.log:
                    cache.log.put(key, [[f.questions, f.answer, f.sentence] for f in backend.facts(segment, limit)])
                return [Fact(*f) for f in cache.log[key]]
            Cached.facts = facts
        return Cached()
