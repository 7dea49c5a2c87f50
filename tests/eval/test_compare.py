"""`personatune compare` on crafted eval.json files: pairing, intervals, verdicts, finding evals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from personatune.errors import UserError
from personatune.eval.compare import AGGREGATE_ONLY, compare, format_compare, load_eval
from personatune.workspace import Workspace

N = 20


def per_item(recall: float, invented: bool, bleed: bool, voice: float = 0.4, exact: bool = False) -> dict:
    """One variant's per_item: every set score.py writes, N probes each, the same value per probe
    except a little spread so the intervals are not degenerate."""
    spread = [0.02 * (i % 3) for i in range(N)]
    return {
        "identity": {f"identity-{i:02d}": {"fact_recall": recall + spread[i], "invented": invented,
                                           "contradicts": False} for i in range(N)},
        "opinions": {f"opinions-{i:02d}": {"invented": invented, "alignment": 0.3 + spread[i]} for i in range(N)},
        "general": {f"g-{i:02d}": {"alignment": 0.5, "correct": i % 2 == 0} for i in range(N)},
        "neutral": {f"n-{i:02d}": {"bleed": bleed, "terms": [], "similarity": 0.1} for i in range(N)},
        "transfer": {f"t-{i:02d}": {"voice": voice + spread[i]} for i in range(N)},
        "verbatim": {f"v-{i:02d}": {"copied": 0.0, "longest_run": 3 + i % 2, "exact": exact} for i in range(N)},
    }


def write_eval(root: Path, eval_id: str, run_id: str, variants: dict, aggregate: dict | None = None) -> Path:
    folder = root / "eval" / eval_id
    folder.mkdir(parents=True)
    metrics = {v: dict(aggregate or {"persona_nll": 3.0, "instruction_nll": 4.0, "length_median_ratio": 1.2})
               for v in variants}
    data = {"eval_id": eval_id, "run_id": run_id, "variants": list(variants), "metrics": metrics,
            "intervals": {}, "per_item": variants, "flags": [], "definitions": {}, "settings": {}}
    (folder / "eval.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def write_run(root: Path, run_id: str) -> None:
    (root / "runs" / run_id).mkdir(parents=True)
    (root / "runs" / run_id / "run.json").write_text("{}", encoding="utf-8")


def rows(result: dict) -> dict:
    return {r["metric"]: r for r in result["rows"]}


def test_a_clear_change_is_better_or_worse_with_an_interval_that_excludes_zero(tmp_path):
    base = per_item(recall=0.1, invented=True, bleed=False)
    write_eval(tmp_path, "20260101-000000", "run-a", {"tuned": base, "base": base})
    write_eval(tmp_path, "20260102-000000", "run-b",
               {"tuned": per_item(recall=0.8, invented=False, bleed=True, exact=True)},
               {"persona_nll": 2.5, "instruction_nll": 4.5, "length_median_ratio": 1.05})
    result = compare(tmp_path, "20260101-000000", "20260102-000000")
    got = rows(result)
    recall = got["identity_recall"]
    assert recall["verdict"] == "better" and recall["low"] > 0 and recall["delta"] == pytest.approx(0.7)
    assert recall["n"] == N and recall["p_value"] < 0.05 and recall["better"] == "higher"
    invented = got["invented_rate"]  # bools become 0/1, over identity and opinions together
    assert (invented["a"], invented["b"], invented["n"]) == (1.0, 0.0, 2 * N)
    assert invented["verdict"] == "better" and invented["high"] < 0  # lower is better
    assert got["bleed_rate"]["verdict"] == "worse" and got["bleed_rate"]["low"] > 0
    assert got["exact_continuation_rate"]["verdict"] == "worse"
    for same in ("contradiction_rate", "general_accuracy", "general_similarity", "copied_8gram_share",
                 "longest_copied_run", "transfer_voice", "opinion_alignment"):
        assert got[same]["verdict"] == "no clear difference" and got[same]["delta"] == pytest.approx(0), same
    nll = got["persona_nll"]
    assert nll["verdict"] == AGGREGATE_ONLY and nll["low"] is None and nll["delta"] == pytest.approx(-0.5)
    assert nll["leans"] == "better" and got["instruction_nll"]["leans"] == "worse"
    assert got["length_median_ratio"]["leans"] == "better"  # 1.2 -> 1.05: closer to 1
    assert "judge_persona_match" not in got  # measured by neither eval: not a row

    table = format_compare(result)
    lines = table.splitlines()
    assert "A = eval 20260101-000000 (run run-a)" in lines[0] and "B = eval 20260102-000000 (run run-b)" in lines[0]
    header = lines[1]
    assert re.match(r"metric\s+better\s+A\s+B\s+B - A \[95% interval\]\s+n\s+verdict", header)
    body = {line.split()[0]: line for line in lines[2:-1]}
    assert set(body) == set(got)
    column = header.index("verdict")
    assert all(line[column:].startswith(got[name]["verdict"]) for name, line in body.items())  # aligned
    assert "+0.700 [+0." in body["identity_recall"] and body["identity_recall"].rstrip().endswith("better")
    assert body["persona_nll"].rstrip().endswith("no interval (aggregate only), leans better")


def test_identical_evals_show_no_difference(tmp_path):
    same = {"tuned": per_item(recall=0.4, invented=True, bleed=True)}
    write_eval(tmp_path, "20260101-000000", "run-a", same)
    write_eval(tmp_path, "20260102-000000", "run-b", same)
    result = compare(tmp_path, "run-a", "run-b")
    for row in result["rows"]:
        assert row["delta"] == pytest.approx(0), row["metric"]
        assert row["verdict"] in ("no clear difference", AGGREGATE_ONLY), row["metric"]
    assert result["shared_probes"] == 6 * N


def test_only_probes_in_both_evals_are_paired(tmp_path):
    a, b = per_item(0.0, False, False), per_item(1.0, False, False)
    del b["identity"]["identity-00"], b["identity"]["identity-01"]
    b["identity"]["identity-99"] = {"fact_recall": 0.0}  # only in b: not paired
    b["neutral"] = {}
    write_eval(tmp_path, "e1", "r1", {"tuned": a})
    write_eval(tmp_path, "e2", "r2", {"tuned": b})
    got = rows(compare(tmp_path, "e1", "e2"))
    assert got["identity_recall"]["n"] == N - 2 and got["identity_recall"]["delta"] == pytest.approx(1.0)
    assert "bleed_rate" not in got


def test_runs_stand_for_their_latest_eval_and_prefixes_resolve(tmp_path):
    variants = {"tuned": per_item(0.5, False, False)}
    write_eval(tmp_path, "20260101-000000", "20251230-120000-aaaa", variants)
    write_eval(tmp_path, "20260103-000000", "20251230-120000-aaaa", variants)
    write_eval(tmp_path, "20260102-000000", "20251231-090000-bbbb", variants)
    # an eval still being written (artifacts.atomic_dir): newer, but never picked
    write_eval(tmp_path, ".20260109-000000.x.tmp", "20251230-120000-aaaa", variants)
    assert load_eval(tmp_path, "20251230-120000-aaaa")["eval_id"] == "20260103-000000"
    assert load_eval(tmp_path, "20251230-12")["eval_id"] == "20260103-000000"  # run prefix
    assert load_eval(tmp_path, "20260101-000000")["eval_id"] == "20260101-000000"  # an older eval by id
    assert load_eval(tmp_path, "20260102")["eval_id"] == "20260102-000000"  # eval prefix
    result = compare(Workspace(tmp_path), "20251231", "20260101-000000")
    assert (result["a"]["eval_id"], result["a"]["run_id"]) == ("20260102-000000", "20251231-090000-bbbb")
    assert result["b"]["eval_id"] == "20260101-000000"
    with pytest.raises(UserError, match="ambiguous.*run 20251230-120000-aaaa.*run 20251231-090000-bbbb"):
        load_eval(tmp_path, "202512")


def test_user_errors_are_one_line_and_say_what_to_do(tmp_path):
    write_run(tmp_path, "20260105-000000-cccc")
    with pytest.raises(UserError, match=r"no eval or run 'x' .* evals: none"):
        compare(tmp_path, "x", "y")
    write_eval(tmp_path, "e1", "r1", {"tuned": per_item(0.5, False, False), "base": per_item(0.5, False, False)})
    write_eval(tmp_path, "e2", "r2", {"base": per_item(0.5, False, False)})
    write_eval(tmp_path, "e3", "r3", {"tuned": {"identity": {"other-01": {"fact_recall": 1.0}}}})
    cases = [
        (("e1", "20260105"), r"run 20260105-000000-cccc has no eval; run `personatune eval .* --run "
                             r"20260105-000000-cccc` first"),
        (("e1", "e2"), r"eval e2 has no variant 'tuned' \(it has: base\); pick one with --variant"),
        (("e1", "e3"), r"evals e1 and e3 share no probes for variant 'tuned'"),
        (("e1", "nothing"), r"no eval or run 'nothing'"),
    ]
    for (a, b), words in cases:
        with pytest.raises(UserError, match=words) as caught:
            compare(tmp_path, a, b)
        assert "\n" not in str(caught.value)
    assert compare(tmp_path, "e1", "e2", variant="base")["rows"]  # the variant both have
    (tmp_path / "eval" / "e9").mkdir()
    (tmp_path / "eval" / "e9" / "eval.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(UserError, match="cannot read .*e9.*eval.json"):
        compare(tmp_path, "e1", "e9")
