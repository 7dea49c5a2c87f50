"""Question writers that ask a language model: any OpenAI-compatible API, or the workspace's base model.

Each backend proposes questions for a segment (the person's answer); the pairs stage validates
them and asks again for what it rejected. The offline default is `template_questions`.
Answers of a model are cached per segment (`ProposalCache`), so a rerun after a crash, a timeout
or Ctrl-C asks only for what is not answered yet.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

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
        body = {"model": self.model, "temperature": self.temperature,
                "messages": [{"role": "user", "content": prompt_for(segment, self.person, n)}]}
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        slow = (f"question endpoint {self.url} did not answer within {self.timeout:g}s; raise "
                "pairs.openai_timeout or use a faster model (answers so far are cached)")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise UserError(f"question endpoint {self.url} answered HTTP {exc.code}: "
                            f"{exc.read()[:200].decode(errors='replace')}") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise UserError(slow) from None
            raise UserError(f"cannot reach question endpoint {self.url} ({reason}); "
                            "check pairs.openai_base_url and that the server is running") from None
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"question endpoint {self.url} answered something that is not JSON: "
                            f"{body[:120].decode(errors='replace')!r}") from None
        try:
            content = data["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError
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


def openai_settings(base_url: str, model: str, key_env: str) -> tuple[str, str, str]:
    return (base_url or os.environ.get("OPENAI_BASE_URL", ""),
            model or os.environ.get("PERSONATUNE_OPENAI_MODEL", ""),
            os.environ.get(key_env, "") if key_env else "")


class ProposalCache:
    """What a model answered, per (writer, segment text, count, round): an append-only JSON-lines file that
    survives a crash mid-stage, so a rerun resumes instead of asking again."""

    def __init__(self, path, writer: dict):
        self.path = path
        self.writer = json.dumps(writer, sort_keys=True)
        self.entries: dict[str, list[str]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry["questions"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by a crash: ask again

    def key(self, segment: dict, n: int, attempt: int) -> str:
        from personatune.artifacts import sha256_text

        return sha256_text(f"{self.writer}|{segment.get('label')}|{n}|{attempt}|{segment['text']}")

    def wrap(self, backend):
        cache = self

        class Cached:
            name = backend.name

            def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
                key = cache.key(segment, n, attempt)
                if key not in cache.entries:
                    cache.put(key, backend.propose(segment, n, attempt))
                return cache.entries[key]
        return Cached()

    def put(self, key: str, questions: list[str]) -> None:
        self.entries[key] = questions
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "questions": questions}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
