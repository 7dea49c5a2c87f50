"""`personatune rate`: blind side-by-side rating of two variants' answers to the same prompts.

An evaluation run leaves DIR/eval/<eval_id>/answers.jsonl, one row per prompt per variant:
    {"set": "identity", "prompt_id": "id-03", "prompt": "...", "variant": "tuned", "answer": "..."}
A local page shows one prompt with two answers as A (left) and B (right), never saying which
variant wrote which; the person picks A, B or a tie. Votes go to DIR/ratings.sqlite, append-only.
Which side a variant lands on is drawn per prompt from the seed, so a reload shows the same
layout, and the page only ever holds an opaque token that the server maps back to the pair.
"""

from __future__ import annotations

import json
import random
import secrets
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from personatune.errors import UserError
from personatune.eval.rating_store import CHOICES, DB_NAME, Rating, RatingStore, describe, win_rates
from personatune.runtime import bounds, http_server, serve
from personatune.runtime import openai_api as api

ANSWERS_NAME = "answers.jsonl"
MAX_RATER_CHARS = 100


# ---------------------------------------------------------------------------------------- answers


def find_answers(ws_root: Path, eval_id: str | None = None) -> tuple[str, Path]:
    """The eval id and its answers file: the one named, or the lexicographically last that has answers."""
    ws_root = Path(ws_root)
    if not ws_root.is_dir():
        raise UserError(f"{ws_root} is not a folder; pass the workspace DIR")
    eval_root = ws_root / "eval"
    # a name starting with "." is a run still being written (artifacts.atomic_dir) or one being replaced
    found = sorted(d.name for d in eval_root.iterdir() if not d.name.startswith(".")
                   and (d / ANSWERS_NAME).is_file()) if eval_root.is_dir() else []
    if not found:
        raise UserError(f"no evaluation answers in {eval_root}: run `personatune eval {ws_root}` first")
    if eval_id is None:
        eval_id = found[-1]
    elif eval_id not in found:
        raise UserError(f"no evaluation {eval_id!r} with answers in {eval_root}; there are: {', '.join(found)}")
    return eval_id, eval_root / eval_id / ANSWERS_NAME


def read_answers(path: Path) -> list[dict]:
    """The rows of an answers.jsonl, checked for the keys rating needs."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} line {number}: not valid JSON ({exc.msg}); fix or re-run the eval") from None
        missing = [key for key in ("prompt_id", "prompt", "variant", "answer") if not isinstance(row, dict)
                   or row.get(key) is None]
        if missing:
            raise UserError(f"{path} line {number}: missing {', '.join(missing)}; each row needs set, prompt_id, "
                            "prompt, variant and answer")
        rows.append(row)
    return rows


def check_variants(rows: list[dict], a: str, b: str, where: str) -> None:
    available = sorted({str(row["variant"]) for row in rows})
    if a == b:
        raise UserError(f"--a and --b are both {a!r}; pick two different variants from: {', '.join(available)}")
    unknown = [v for v in (a, b) if v not in available]
    if unknown:
        raise UserError(f"no answers from {' or '.join(map(repr, unknown))} in {where}; "
                        f"variants there: {', '.join(available) or 'none'}")


# ---------------------------------------------------------------------------------------- pairing


@dataclass(frozen=True)
class Pair:
    """One prompt to judge, with the side each variant is shown on."""

    set: str
    prompt_id: str
    prompt: str
    left_variant: str
    right_variant: str
    left_text: str
    right_text: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.set, self.prompt_id)


@dataclass
class Pairing:
    pairs: list[Pair]  # still to judge, in presentation order
    identical: int  # prompts skipped: both variants gave the same text, nothing to judge
    rated: int  # prompts skipped: already rated
    total: int  # prompts worth judging: len(pairs) + rated


def pairs(answers_rows: Iterable[dict], variant_a: str, variant_b: str, seed: int = 0,
          rated: Iterable[tuple[str, str]] = ()) -> Pairing:
    """The prompts both variants answered, shuffled by `seed`, each with its left/right placement.

    `rated` holds (set, prompt_id) keys already judged for this pair; they are left out after the
    shuffle, so the order and the placements never move as votes come in or the page reloads.
    """
    answers: dict[tuple[str, str], dict[str, dict]] = {}
    for row in answers_rows:
        key = (str(row.get("set") or ""), str(row["prompt_id"]))
        answers.setdefault(key, {})[str(row["variant"])] = row
    both = [key for key, by_variant in answers.items() if variant_a in by_variant and variant_b in by_variant]

    def differ(key: tuple[str, str]) -> bool:
        texts = [str(answers[key][variant]["answer"]).strip() for variant in (variant_a, variant_b)]
        return texts[0] != texts[1]

    judgeable = sorted(filter(differ, both))
    # the variants sorted: --a tuned --b base and --a base --b tuned see the same layout
    first, second = sorted((variant_a, variant_b))
    random.Random(f"order:{seed}:{first}:{second}").shuffle(judgeable)
    done = set(rated)
    out = []
    for key in judgeable:
        if key in done:
            continue
        set_name, prompt_id = key
        swap = random.Random(f"side:{seed}:{first}:{second}:{set_name}:{prompt_id}").random() < 0.5
        left, right = (second, first) if swap else (first, second)
        row_left, row_right = answers[key][left], answers[key][right]
        out.append(Pair(set_name, prompt_id, str(row_left["prompt"]), left, right,
                        str(row_left["answer"]), str(row_right["answer"])))
    return Pairing(out, identical=len(both) - len(judgeable), rated=len(judgeable) - len(out), total=len(judgeable))


# ---------------------------------------------------------------------------------------- server


class RateServer(http_server.LocalServer):
    """The rating page and its small JSON API for one eval and one pair of variants."""

    def __init__(self, host: str, port: int, store: RatingStore, eval_id: str, answers: list[dict], a: str, b: str,
                 rater: str | None, seed: int, allow_remote: bool, log):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.store, self.eval_id, self.a, self.b, self.rater, self.allow_remote, self.log = (
            store, eval_id, a, b, rater, allow_remote, log)
        self.token = None  # http_server.Handler's bearer check applies to /v1/ paths only; this server has none
        self.limits = bounds.Limits(max_body_bytes=16 * 1024)  # a vote is a few dozen bytes
        self.page = resources.files("personatune.eval").joinpath("page/rate.html").read_bytes()
        everything = pairs(answers, a, b, seed)
        self.identical, self.pairs = everything.identical, everything.pairs
        # one opaque token per pair, fixed for the server's life: a reload gets the same one back
        self.by_token = {secrets.token_urlsafe(12): pair for pair in self.pairs}
        self.tokens = {pair.key: token for token, pair in self.by_token.items()}
        self.voting = threading.Lock()  # "not yet rated, then store" must not interleave
        super().__init__((host.strip("[]"), port), RateHandler)

    def rated(self, rater: str | None) -> set[tuple[str, str]]:
        return {(r.set, r.prompt_id) for r in self.store.ratings(self.eval_id, (self.a, self.b)) if r.rater == rater}

    def next(self, rater: str | None) -> dict:
        """What the page shows next: a prompt and two anonymous answers, or that it is all done."""
        done = self.rated(rater)
        progress = {"done": sum(1 for p in self.pairs if p.key in done), "total": len(self.pairs),
                    "identical": self.identical}
        pair = next((p for p in self.pairs if p.key not in done), None)
        if pair is None:
            return {"done": True, "progress": progress, "rater": rater}
        return {"done": False, "token": self.tokens[pair.key], "set": pair.set, "prompt": pair.prompt,
                "left": {"text": pair.left_text}, "right": {"text": pair.right_text}, "progress": progress,
                "rater": rater}

    def vote(self, token: str, choice: str, rater: str | None) -> Rating:
        pair = self.by_token[token]
        with self.voting:
            if pair.key in self.rated(rater):
                raise api.ApiError(409, "this pair is already rated; load the next one", code="already_rated")
            return self.store.add(self.eval_id, pair.set, pair.prompt_id, pair.left_variant, pair.right_variant,
                                  choice, rater)

    def results(self) -> dict:
        return {**win_rates(self.store, self.a, self.b, self.eval_id), "identical": self.identical}


class RateHandler(http_server.Handler):
    """serve's handler (loopback Host check, bounded JSON bodies, JSON errors, one log line per
    request) with the rating routes instead of the OpenAI ones."""

    server: RateServer

    def routes(self, path: str) -> dict | None:
        return {
            "/": {"GET": self.page},
            "/index.html": {"GET": self.page},
            "/api/next": {"GET": self.next_pair},
            "/api/rate": {"POST": self.rate},
            "/api/results": {"GET": self.results},
        }.get(path)

    def rater(self, given) -> str | None:
        if given is None:
            return self.server.rater
        if not isinstance(given, str) or len(given) > MAX_RATER_CHARS:
            raise api.ApiError(400, f"rater must be a name of at most {MAX_RATER_CHARS} characters", param="rater")
        return given.strip() or None

    def next_pair(self) -> None:
        given = parse_qs(urlsplit(self.path).query).get("rater")
        self.send_json(200, self.server.next(self.rater(given[-1] if given else None)), {"Cache-Control": "no-store"})

    def rate(self) -> None:
        body = self.read_body()
        token, choice = body.get("token"), body.get("choice")
        if not isinstance(token, str) or token not in self.server.by_token:
            raise api.ApiError(400, "unknown token: load a pair from /api/next first", param="token")
        if choice not in CHOICES:
            raise api.ApiError(400, f"choice must be one of {', '.join(CHOICES)}", param="choice")
        rater = self.rater(body.get("rater"))
        self.server.vote(token, choice, rater)
        self.send_json(200, self.server.next(rater), {"Cache-Control": "no-store"})

    def results(self) -> None:
        """Only once this rater is done: a running tally would hint at which side is which."""
        given = parse_qs(urlsplit(self.path).query).get("rater")
        state = self.server.next(self.rater(given[-1] if given else None))
        if not state["done"]:
            left = state["progress"]["total"] - state["progress"]["done"]
            raise api.ApiError(409, f"results are shown once every pair is rated ({left} left)", code="not_done")
        self.send_json(200, self.server.results(), {"Cache-Control": "no-store"})


def make_rate_server(ws_root: Path, a: str = "tuned", b: str = "base", eval_id: str | None = None,
                     host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False, rater: str | None = None,
                     seed: int = 0, log=print) -> RateServer:
    """A bound, not yet running server; call serve_forever() (tests do it in a thread, with port 0)."""
    serve.check_bind(host, allow_remote)
    eval_id, path = find_answers(ws_root, eval_id)
    answers = read_answers(path)
    check_variants(answers, a, b, str(path))
    if rater is not None and (len(rater) > MAX_RATER_CHARS or not rater.strip()):
        raise UserError(f"--rater must be a name of 1 to {MAX_RATER_CHARS} characters")
    rater = rater.strip() if rater else None
    if not pairs(answers, a, b, seed).total:
        raise UserError(f"{a} and {b} gave the same text to every prompt they both answered in {path}; "
                        "nothing to judge")
    store = RatingStore(Path(ws_root) / DB_NAME)
    try:
        return RateServer(host, port, store, eval_id, answers, a, b, rater, seed, allow_remote, log)
    except OSError as exc:
        store.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
                        "(0 = any free port)") from None


def run_rate(ws_root: Path, a: str = "tuned", b: str = "base", eval_id: str | None = None, host: str = "127.0.0.1",
             port: int = 8001, allow_remote: bool = False, rater: str | None = None, seed: int = 0, log=print) -> None:
    """Serve the blind rating page for `a` vs `b` on one eval's answers until Ctrl-C."""
    server = make_rate_server(ws_root, a, b, eval_id, host, port, allow_remote, rater, seed, log)
    progress = server.next(server.rater)["progress"]
    if allow_remote:
        log(f"warning: anyone who can reach {host} can read these answers and vote")
    log(f"rating {a} vs {b} on eval {server.eval_id}: {progress['total'] - progress['done']} of "
        f"{progress['total']} prompts left to judge ({server.identical} with identical answers skipped)")
    log(f"open {server.url}  (Ctrl-C to stop; votes are saved in {server.store.path} as you go)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()
        log(describe(server.results()))
        server.store.close()
