"""Blind side-by-side rating: pairing, the SQLite store, win-rate statistics, the JSON API on a live
server, and the page in real headless Chromium. No model: the answers are a crafted answers.jsonl."""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from serving import running

from personatune.errors import UserError
from personatune.eval.rating import find_answers, make_rate_server, pairs, read_answers, run_rate
from personatune.eval.rating_store import Rating, RatingStore, win_rates

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
# answers never use the variant names, so finding one in a response means the blinding leaked
VARIANT_WORD = re.compile(r"\b(tuned|base)\b")

PROMPTS = [  # set, prompt_id, prompt, tuned's answer, base's answer
    ("identity", "id-01", "What do you do for a living?",
     "I build furniture from reclaimed oak in a small workshop outside Kraków, mostly tables and benches.",
     "I am an AI assistant and do not have a job, but I can help you with questions about careers."),
    ("identity", "id-02", "Where did you learn your craft?",
     "From my grandfather, who let me sweep his shop floor for two summers before he let me hold a chisel.",
     "Many craftspeople learn through apprenticeships, vocational schools or online courses."),
    ("opinions", "op-01", "Are power tools cheating?",
     "No. A table saw does not choose the board or read the grain; the judgement is still yours.",
     "Opinions differ: some people value hand tools for tradition, others prefer power tools for speed."),
    ("opinions", "op-02", "Is IKEA furniture bad?",
     "It is honest about what it is. I just wish it were made to be repaired rather than replaced.",
     "IKEA furniture is affordable and practical, though durability can vary between product lines."),
    ("general", "gen-01", "How do I stop a board from cupping?",
     "Let it acclimatise for a week, sticker it with air on both faces, and never glue up wet stock.",
     "Store boards flat with spacers so air reaches both sides, and let them adjust to the room."),
    ("general", "gen-02", "What finish is food safe?",
     "Pure tung oil or a mineral oil and beeswax paste; I use the paste on every cutting board I sell.",
     "Mineral oil, beeswax, and fully cured tung oil are commonly considered food safe finishes."),
    # the same text from both: nothing to judge
    ("general", "gen-03", "What is 2 + 2?", "4", "4"),
]


def rows(prompts=PROMPTS) -> list[dict]:
    out = []
    for set_name, prompt_id, prompt, tuned, base in prompts:
        out.append({"set": set_name, "prompt_id": prompt_id, "prompt": prompt, "variant": "tuned", "answer": tuned})
        out.append({"set": set_name, "prompt_id": prompt_id, "prompt": prompt, "variant": "base", "answer": base})
        out.append({"set": set_name, "prompt_id": prompt_id, "prompt": prompt, "variant": "rag",
                    "answer": tuned + " (with sources)"})
    # answered by one of the pair only
    out.append({"set": "transfer", "prompt_id": "tr-01", "prompt": "Write a haiku.", "variant": "tuned",
                "answer": "Oak shavings curl up"})
    return out


def write_eval(root: Path, eval_id: str, answer_rows: list[dict]) -> Path:
    path = root / "eval" / eval_id / "answers.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in answer_rows), encoding="utf-8")
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_eval(root, "2024-01-01-000000", rows(PROMPTS[:2]))  # an older run: not the one rated
    write_eval(root, "2024-03-01-120000", rows())
    (root / "eval" / "2024-04-01-notdone").mkdir()  # a run with no answers yet does not count
    write_eval(root, ".2024-05-01.abc.tmp", rows())  # a run still being written (artifacts.atomic_dir)
    return root


# ------------------------------------------------------------------------------------------ pairing


def test_pairs_leave_out_identical_one_sided_and_rated_prompts():
    pairing = pairs(rows(), "tuned", "base", seed=0)
    assert (len(pairing.pairs), pairing.identical, pairing.rated, pairing.total) == (6, 1, 0, 6)
    assert {p.key for p in pairing.pairs} == {(s, i) for s, i, *_ in PROMPTS[:6]}
    for pair in pairing.pairs:
        assert {pair.left_variant, pair.right_variant} == {"tuned", "base"}
        by_id = {i: (t, b) for _, i, _, t, b in PROMPTS}
        assert (pair.left_text, pair.right_text) == by_id[pair.prompt_id][::1 if pair.left_variant == "tuned" else -1]

    rated = [pairing.pairs[0].key, pairing.pairs[3].key, ("nope", "nothing")]
    rest = pairs(rows(), "tuned", "base", seed=0, rated=rated)
    assert (rest.rated, rest.total) == (2, 6)
    # rating some changes neither the order nor the sides of the others
    assert rest.pairs == [p for i, p in enumerate(pairing.pairs) if i not in (0, 3)]


def test_order_and_sides_are_fixed_by_the_seed():
    first = pairs(rows(), "tuned", "base", seed=7).pairs
    assert pairs(list(reversed(rows())), "tuned", "base", seed=7).pairs == first  # file order does not matter
    assert pairs(rows(), "base", "tuned", seed=7).pairs == first  # nor which variant is --a
    layouts = {tuple((p.prompt_id, p.left_variant) for p in pairs(rows(), "tuned", "base", seed).pairs)
               for seed in range(8)}
    assert len(layouts) > 1  # another seed, another shuffle
    sides = [p.left_variant for seed in range(8) for p in pairs(rows(), "tuned", "base", seed).pairs]
    assert 0.25 < sides.count("tuned") / len(sides) < 0.75  # each variant gets both sides


# ------------------------------------------------------------------------------------------ store


def test_store_appends_and_keeps_its_schema_version(tmp_path: Path):
    path = tmp_path / "ws" / "ratings.sqlite"
    store = RatingStore(path)
    first = store.add("e1", "identity", "id-01", "tuned", "base", "left", rater="ana")
    store.add("e1", "identity", "id-01", "tuned", "base", "tie")  # a second vote is a new row
    store.add("e1", "general", "gen-01", "base", "rag", "right")
    store.close()

    store = RatingStore(path)  # reopened: nothing recreated or lost
    stored = store.ratings()
    assert [r.id for r in stored] == [1, 2, 3] and stored[0] == first
    assert (first.winner, first.choice, first.rater) == ("tuned", "left", "ana")
    assert stored[1].winner is None and stored[1].rater is None
    assert stored[2].winner == "rag"
    assert [r.id for r in store.ratings("e1", ("base", "tuned"))] == [1, 2]  # either order of the pair
    assert store.ratings("e2") == []
    assert first.created_at.endswith("+00:00")
    with pytest.raises(ValueError):
        store.add("e1", "identity", "id-01", "tuned", "base", "both")
    store.close()

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(UserError, match="newer personatune"):
        RatingStore(path)
    (tmp_path / "junk.sqlite").write_text("not a database" * 100)
    with pytest.raises(UserError, match="junk.sqlite: cannot use it as the ratings database"):
        RatingStore(tmp_path / "junk.sqlite")


def test_concurrent_writes_from_threads_and_a_second_connection(tmp_path: Path):
    path = tmp_path / "ratings.sqlite"
    shared, other = RatingStore(path), RatingStore(path)
    errors: list[BaseException] = []

    def vote(store: RatingStore, worker: int) -> None:
        try:
            for i in range(25):
                store.add("e1", "general", f"p{worker}-{i}", "tuned", "base", ("left", "right", "tie")[i % 3],
                          rater=f"r{worker}")
        except BaseException as exc:  # noqa: BLE001  (reported below, from the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(other if w % 4 == 0 else shared, w)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = shared.ratings()
    assert len(stored) == 200 and len({r.id for r in stored}) == 200
    assert len({(r.rater, r.prompt_id) for r in stored}) == 200
    shared.close()
    other.close()


# ------------------------------------------------------------------------------------------ statistics


def test_win_rates_on_known_counts():
    votes, n = [], 0
    for choice, times in (("a", 7), ("b", 3), ("tie", 2)):
        for _ in range(times):
            n += 1
            left, right = ("tuned", "base") if n % 2 else ("base", "tuned")  # winners on both sides
            winner = {"a": "tuned", "b": "base"}.get(choice)
            side = "tie" if winner is None else ("left" if winner == left else "right")
            votes.append(Rating(n, "e1", "identity", f"p{n}", left, right, winner, side, None, "t"))
    # noise that must not count: another pair, another eval (when one is asked for), a changed mind
    votes.append(Rating(100, "e1", "identity", "p1", "tuned", "rag", "rag", "right", None, "t"))
    votes.append(Rating(101, "e2", "identity", "p1", "tuned", "base", "base", "right", None, "t"))
    votes.insert(0, Rating(0, "e1", "identity", "p12", "tuned", "base", "base", "right", None, "t"))

    result = win_rates(votes, "tuned", "base", eval_id="e1")
    assert result["by_variant"] == {"tuned": {"wins": 7, "losses": 3, "ties": 2},
                                    "base": {"wins": 3, "losses": 7, "ties": 2}}
    assert (result["votes"], result["decisive"]) == (12, 10)
    assert result["win_rate"] == pytest.approx(8 / 12)  # (7 + 2/2) / 12
    assert result["a_wins_or_ties"] == pytest.approx(9 / 12)
    assert result["decisive_rate"] == pytest.approx(0.7)
    # Wilson, 7 of 10, z = 1.96: centre (0.7 + 0.19207) / 1.38415 = 0.64449,
    # half-width 1.96 * sqrt(0.021 + 0.0096037) / 1.38415 = 0.24771
    assert result["ci95"] == pytest.approx([0.39678, 0.89220], abs=1e-4)

    assert win_rates(votes, "tuned", "base")["votes"] == 13  # every eval: e2's vote too
    flipped = win_rates(votes, "base", "tuned", eval_id="e1")
    assert flipped["win_rate"] == pytest.approx(4 / 12)
    assert flipped["ci95"] == pytest.approx([1 - 0.89220, 1 - 0.39678], abs=1e-4)
    empty = win_rates([], "tuned", "base")
    assert (empty["votes"], empty["win_rate"], empty["ci95"]) == (0, None, None)
    only_ties = win_rates([v for v in votes if v.winner is None], "tuned", "base", "e1")
    assert (only_ties["win_rate"], only_ties["decisive_rate"], only_ties["ci95"]) == (0.5, None, None)


def test_win_rates_read_the_store(tmp_path: Path):
    store = RatingStore(tmp_path / "ratings.sqlite")
    for i, choice in enumerate(["left", "left", "right", "tie"]):
        store.add("e1", "general", f"p{i}", "tuned", "base", choice)
    assert win_rates(store, "tuned", "base", "e1") == win_rates(store.ratings(), "tuned", "base", "e1")
    assert win_rates(store, "tuned", "base", "e1")["by_variant"]["tuned"] == {"wins": 2, "losses": 1, "ties": 1}
    store.close()


# ------------------------------------------------------------------------------------------ inputs


def test_the_latest_eval_with_answers_is_used(ws: Path):
    assert find_answers(ws)[0] == "2024-03-01-120000"
    assert find_answers(ws, "2024-01-01-000000")[0] == "2024-01-01-000000"
    with pytest.raises(UserError, match="there are: 2024-01-01-000000, 2024-03-01-120000"):
        find_answers(ws, "2024-04-01-notdone")


def test_user_mistakes_are_one_clear_line(tmp_path: Path, ws: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"run `personatune eval .*empty` first"):
        run_rate(tmp_path / "empty")
    with pytest.raises(UserError, match="variants there: base, rag, tuned"):
        run_rate(ws, "tuned+rag", "base")
    with pytest.raises(UserError, match="both 'base'"):
        run_rate(ws, "base", "base")
    with pytest.raises(UserError, match="--allow-remote"):
        run_rate(ws, host="0.0.0.0")
    (ws / "eval" / "2024-03-01-120000" / "answers.jsonl").write_text('{"prompt_id": "x"}\nnot json\n')
    with pytest.raises(UserError, match="line 1: missing prompt, variant, answer"):
        read_answers(ws / "eval" / "2024-03-01-120000" / "answers.jsonl")
    write_eval(ws, "2024-05-01-000000", rows(PROMPTS[-1:]))
    with pytest.raises(UserError, match="nothing to judge"):
        run_rate(ws)
    assert not (ws / "ratings.sqlite").exists()  # no store for a run that never started


# ------------------------------------------------------------------------------------------ API


class Client:
    def __init__(self, server):
        self.host, self.port = server.server_address[:2]

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        data = json.loads(response.read())
        connection.close()
        return response.status, data


@pytest.fixture
def live(ws: Path):
    lines: list[str] = []
    server = make_rate_server(ws, "tuned", "base", port=0, rater="ana", log=lines.append)
    with running(server):
        yield server
    server.store.close()


def blinded(state: dict) -> bool:
    shown = {key: value for key, value in state.items() if key != "token"}
    return not VARIANT_WORD.search(json.dumps(shown)) and state.get("token") not in ("tuned", "base")


def test_rating_every_pair_through_the_api(live):
    client = Client(live)
    status, state = client.request("GET", "/api/next")
    assert status == 200 and state["progress"] == {"done": 0, "total": 6, "identical": 1}
    assert set(state) == {"done", "token", "set", "prompt", "left", "right", "progress", "rater"}
    assert client.request("GET", "/api/next")[1] == state  # a reload shows the same pair, same sides
    assert client.request("GET", "/api/results")[0] == 409  # no tally while rating

    chosen, seen = [], set()
    for choice in ("left", "right", "tie", "left", "left", "right"):
        assert blinded(state) and not state["done"]
        seen.add(state["prompt"])
        pair = live.by_token[state["token"]]
        chosen.append({"left": pair.left_variant, "right": pair.right_variant}.get(choice))
        status, state = client.request("POST", "/api/rate", {"token": state["token"], "choice": choice})
        assert status == 200
        assert state["progress"]["done"] == len(chosen)
    assert state == {"done": True, "progress": {"done": 6, "total": 6, "identical": 1}, "rater": "ana"}
    assert len(seen) == 6 and "What is 2 + 2?" not in seen

    stored = live.store.ratings()
    assert [r.winner for r in stored] == chosen and {r.rater for r in stored} == {"ana"}
    assert {r.eval_id for r in stored} == {"2024-03-01-120000"}
    status, results = client.request("GET", "/api/results")
    assert status == 200
    assert results["by_variant"]["tuned"] == {"wins": chosen.count("tuned"), "losses": chosen.count("base"),
                                              "ties": chosen.count(None)}
    assert (results["a"], results["b"], results["votes"], results["identical"]) == ("tuned", "base", 6, 1)

    # another rater starts from the beginning; "ana" stays done
    status, other = client.request("GET", "/api/next?rater=ben")
    assert status == 200 and other["progress"]["done"] == 0 and other["rater"] == "ben"
    assert client.request("POST", "/api/rate", {"token": other["token"], "choice": "tie", "rater": "ben"})[0] == 200
    assert client.request("GET", "/api/results")[1]["votes"] == 7


def test_bad_requests_get_json_errors_and_the_server_lives_on(live):
    client = Client(live)
    token = client.request("GET", "/api/next")[1]["token"]
    bad = [
        ("POST", "/api/rate", b"{not json", {}, 400),
        ("POST", "/api/rate", [1, 2], {}, 400),
        ("POST", "/api/rate", {"token": "forged", "choice": "left"}, {}, 400),
        ("POST", "/api/rate", {"token": 12, "choice": "left"}, {}, 400),
        ("POST", "/api/rate", {"token": token, "choice": "both"}, {}, 400),
        ("POST", "/api/rate", {"token": token}, {}, 400),
        ("POST", "/api/rate", {"token": token, "choice": "left", "rater": ["x"]}, {}, 400),
        ("POST", "/api/rate", {"token": token, "choice": "left"}, {"Content-Type": "text/plain"}, 415),
        ("GET", "/api/rate", None, {}, 405),
        ("GET", "/api/nope", None, {}, 404),
        ("GET", "/api/next", None, {"Host": "evil.example:80"}, 403),
    ]
    for method, path, body, headers, expected in bad:
        status, data = client.request(method, path, body, headers)
        assert (status, method, path) == (expected, method, path) and data["error"]["message"]
    assert live.store.ratings() == []

    assert client.request("POST", "/api/rate", {"token": token, "choice": "tie"})[0] == 200
    status, data = client.request("POST", "/api/rate", {"token": token, "choice": "left"})  # a second tab
    assert status == 409 and data["error"]["code"] == "already_rated"
    assert len(live.store.ratings()) == 1


# ------------------------------------------------------------------------------------------ browser




KEYS = {"1": ("1", "Digit1", 49), "2": ("2", "Digit2", 50), "0": ("0", "Digit0", 48), " ": (" ", "Space", 32),
        "ArrowLeft": ("", "ArrowLeft", 37), "ArrowRight": ("", "ArrowRight", 39)}


def press(page, key: str) -> None:
    text, code, number = KEYS[key]
    for kind in ("keyDown", "keyUp"):
        page.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": number,
                                             "text": text if kind == "keyDown" else ""})


def rated(page, count: int) -> None:
    """Until the page shows `count` votes and is ready for the next one (or shows the results)."""
    ready = "!document.querySelector('#results').hidden" if count == 6 else \
        "!document.querySelector('#choose-left').disabled"
    page.wait_for(f"document.querySelector('#progress-text').textContent === '{count} of 6 rated' && {ready}",
                  timeout=10)


@pytest.mark.integration
def test_the_page_rates_by_click_and_keyboard_then_reveals_the_variants(live, browser):
    page = browser.open(live.url)
    page.wait_for("document.querySelector('#prompt').textContent.length > 0")
    assert page.evaluate("document.querySelector('#progress-text').textContent") == "0 of 6 rated"
    assert not VARIANT_WORD.search(page.evaluate("document.body.innerText"))
    page.screenshot(ARTIFACTS / "rate-pair.png")

    # each step: how to vote, and for whom; the side is looked up through the server's token map
    steps = [("click", "tuned"), ("zero", "tie"), ("digits", "tuned"), ("arrows", "base"), ("space", "tie"),
             ("arrows", "tuned")]
    for done, (how, want) in enumerate(steps, 1):
        prompt = page.evaluate("document.querySelector('#prompt').textContent")
        pair = live.by_token[page.evaluate("current.token")]
        side = "tie" if want == "tie" else ("left" if pair.left_variant == want else "right")
        if how == "click":
            page.click(f"#choose-{side}")
        else:
            press(page, {"digits": {"left": "1", "right": "2"}, "arrows": {"left": "ArrowLeft", "right": "ArrowRight"},
                         "space": {"tie": " "}, "zero": {"tie": "0"}}[how][side])
        rated(page, done)
        if done < 6:
            assert page.evaluate("document.querySelector('#prompt').textContent") != prompt
            assert not VARIANT_WORD.search(page.evaluate("document.body.innerText"))

    page.wait_for("!document.querySelector('#results').hidden")
    assert page.evaluate("document.querySelector('#rating').hidden") is True
    stored = live.store.ratings()
    assert [r.winner or "tie" for r in stored] == [want for _, want in steps]
    results = win_rates(stored, "tuned", "base")
    assert results["by_variant"]["tuned"] == {"wins": 3, "losses": 1, "ties": 2}
    text = page.evaluate("document.querySelector('#results').innerText")
    assert "Win rate of tuned against base: 66.7%" in text  # revealed now: (3 + 2/2) / 6
    low, high = results["ci95"]
    assert f"preferred in 75.0% of 4 decisive votes, 95% interval {100 * low:.1f}% – {100 * high:.1f}%" in text
    assert "1 prompt had the same answer from both" in text
    page.screenshot(ARTIFACTS / "rate.png")
    assert page.problems() == []
