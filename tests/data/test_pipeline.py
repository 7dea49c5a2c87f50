from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from personatune import artifacts
from personatune.cli import main
from personatune.data.runner import STAGES, read_record, run_pipeline, run_stage
from personatune.errors import UserError
from personatune.workspace import Workspace, init_workspace

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "examples" / "creator" / "blog"


def quiet(_: str) -> None:
    pass


@pytest.fixture
def small_ws(tmp_path: Path) -> Workspace:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in sorted(p.name for p in LESSON.glob("*.md"))[:3]:
        shutil.copy(LESSON / name, sources / name)
    init_workspace(tmp_path / "ws", [str(sources)], name="Tester")
    return Workspace.open(tmp_path / "ws")


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): artifacts.sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_stages_skip_when_nothing_changed_and_rerun_downstream_when_settings_change(small_ws):
    first = run_pipeline(small_ws, until="build", log=quiet)
    assert [r.skipped for r in first] == [False] * 6
    again = run_pipeline(small_ws, until="build", log=quiet)
    assert [r.skipped for r in again] == [True] * 6
    config = yaml.safe_load(small_ws.config_path.read_text())
    config["chunk"] = {"target_tokens": 90, "max_tokens": 120}
    small_ws.config_path.write_text(yaml.safe_dump(config))
    ws = Workspace.open(small_ws.root)
    third = run_pipeline(ws, until="build", log=quiet)
    assert [r.skipped for r in third] == [True, True, False, False, False, False]
    record = read_record(ws.stage_dir("chunk"))
    assert record["settings"]["target_tokens"] == 90 and record["inputs"]["upstream"]


def test_a_forced_rebuild_with_the_same_output_does_not_rerun_later_stages(small_ws):
    run_pipeline(small_ws, until="chunk", log=quiet)
    before = read_record(small_ws.stage_dir("clean"))["output_hash"]
    rebuilt = run_stage(small_ws, "clean", force=True, log=quiet)
    assert not rebuilt.skipped  # it ran again and took its own time ...
    assert read_record(small_ws.stage_dir("clean"))["output_hash"] == before  # ... but made the same output
    assert run_stage(small_ws, "chunk", log=quiet).skipped


def test_sources_are_never_modified_and_nothing_is_written_outside(small_ws, tmp_path):
    sources = tmp_path / "sources"
    before = tree_hashes(sources)
    run_pipeline(small_ws, log=quiet)
    assert tree_hashes(sources) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources", "ws"]
    # the dataset stage renders rows trained as served with the index (and the card, which this small
    # archive without persona segments has none of), in the workspace; whether any row of these few is
    # trained as served depends on the split (the segment ids, and so the draw, follow the sources' path: no row may be)
    served = json.loads((small_ws.root / "data" / "07-dataset" / "report.json").read_text())["served"]
    index = ["index"] if any(served.get(split, {}).get("rows") for split in ("train", "deploy")) else []
    assert sorted(p.name for p in small_ws.root.iterdir()) == sorted([".personatune.lock", "data", "persona.yaml"]
                                                                     + index)


def test_an_interrupted_stage_keeps_its_last_good_output(small_ws, monkeypatch):
    run_pipeline(small_ws, until="build", log=quiet)
    folder = small_ws.stage_dir("build")
    good = tree_hashes(folder)

    def crash(ctx, settings):
        (ctx.out / "train.jsonl").write_text("half a file")
        raise KeyboardInterrupt

    monkeypatch.setitem(STAGES, "build", replace(STAGES["build"], run=crash))
    with pytest.raises(KeyboardInterrupt):
        run_stage(small_ws, "build", {"ratio": "3"}, log=quiet)
    assert tree_hashes(folder) == good
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_a_stage_needs_its_upstream(small_ws):
    with pytest.raises(UserError, match="run `personatune run .* --until ingest` first"):
        run_stage(small_ws, "clean", log=quiet)


def test_config_mistakes_are_named(small_ws):
    small_ws.config_path.write_text(small_ws.config_path.read_text() + "chunk: {target_tokns: 100}\n")
    with pytest.raises(UserError, match="unknown setting\\(s\\) target_tokns"):
        run_pipeline(Workspace.open(small_ws.root), log=quiet)
    small_ws.config_path.write_text("sources: [a\n")
    with pytest.raises(UserError, match="not valid YAML"):
        Workspace.open(small_ws.root)


def test_init_refuses_to_overwrite_and_checks_sources(tmp_path):
    init_workspace(tmp_path / "ws", [str(LESSON)])
    with pytest.raises(UserError, match="already exists"):
        init_workspace(tmp_path / "ws", [str(LESSON)])
    with pytest.raises(UserError, match="does not exist"):
        init_workspace(tmp_path / "other", [str(tmp_path / "missing")])


def test_cli_runs_stages_and_reports_user_errors_in_one_line(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--sources", str(LESSON), "--name", "Tester"]) == 0
    assert main(["run", str(ws), "--until", "pairs"]) == 0
    assert main(["build", str(ws), "--ratio", "3"]) == 0
    assert read_record(Workspace.open(ws).stage_dir("build"))["settings"]["ratio"] == "3"
    capsys.readouterr()
    assert main(["build", str(ws), "--ratio", "15"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exceeds the cap 10" in err[0]
    assert main(["run", str(tmp_path / "nowhere")]) == 2
    assert "is not a personatune workspace" in capsys.readouterr().err
    assert main(["config", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "target_tokens: 140" in out and "ratio: 'auto'" in out


def test_every_stage_has_a_documented_settings_dataclass():
    import dataclasses

    for name, spec in STAGES.items():
        assert spec.summary.startswith(f"{name}:"), name
        spec.settings()  # defaults are valid
        for field in dataclasses.fields(spec.settings):
            assert field.metadata.get("help"), f"{name}.{field.name} has no help"


def test_train_and_rag_sections_are_accepted_in_persona_yaml(small_ws):
    small_ws.config_path.write_text(small_ws.config_path.read_text() + "train: {r: 8}\nrag: {top_k: 3}\n")
    assert run_pipeline(Workspace.open(small_ws.root), until="ingest", log=quiet)[0].name == "ingest"


@pytest.mark.parametrize("content, words", [
    ("name: Zoë\nsources: [a]\n".encode("latin-1"), "not UTF-8 text"),
    (b"name: x\nsources: 5\n", "`sources` must be a path or a list of paths"),
])
def test_a_bad_config_file_is_one_clear_line(tmp_path, content, words):
    from personatune.workspace import Workspace

    (tmp_path / "persona.yaml").write_bytes(content)
    with pytest.raises(UserError, match=words):
        Workspace.open(tmp_path)


def test_a_config_saved_as_utf16_by_a_windows_editor_is_read(tmp_path):
    from personatune.workspace import Workspace

    (tmp_path / "persona.yaml").write_bytes("name: Zoë\nsources: [a]\n".encode("utf-16"))
    assert Workspace.open(tmp_path).name == "Zoë"


def test_an_override_line_that_is_not_an_object_is_one_clear_line(tmp_path):
    from personatune.data.label import read_overrides

    path = tmp_path / "labels.override.jsonl"
    path.write_text('["persona"]\n')
    with pytest.raises(UserError, match="line 1: expected an object"):
        read_overrides(path)


def test_an_unwritable_cache_is_one_clear_line(tmp_path, monkeypatch):
    from personatune.cache import cache_root

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("PERSONATUNE_CACHE", str(blocked / "cache"))
    with pytest.raises(UserError, match="cannot write the cache folder"):
        cache_root()


def test_a_typo_in_a_later_stage_is_found_before_any_stage_runs(example_ws):
    config = yaml.safe_load(example_ws.config_path.read_text())
    config["build"] = {"ratoi": 10}
    example_ws.config_path.write_text(yaml.safe_dump(config))
    ws = type(example_ws).open(example_ws.root)
    log: list[str] = []
    with pytest.raises(UserError, match=r"\[build\]: unknown setting\(s\) ratoi"):
        run_pipeline(ws, log=log.append)
    assert not any("running" in line for line in log) and not ws.stage_dir("ingest").exists()


def test_a_bad_value_names_its_section_and_a_whole_float_ratio_is_a_ratio(example_ws):
    from personatune.data import build
    from personatune.settings import resolve

    with pytest.raises(UserError, match=r"persona.yaml \[build\]: invalid Settings: ratio '10.5'"):
        resolve(build.Settings, {"ratio": 10.5}, where="persona.yaml [build]")
    assert build.whole(resolve(build.Settings, {"ratio": 10.0}).ratio) == 10


def test_a_second_run_on_a_busy_workspace_says_who_holds_it_and_leftovers_are_cleaned(example_ws):
    leftover = example_ws.root / "data" / ".02-clean.abc123.tmp"
    leftover.mkdir(parents=True)  # what kill -9 in the middle of a stage leaves
    with example_ws.lock("run"):
        with pytest.raises(UserError, match=r"is busy: `personatune run` \(pid \d+"):
            run_pipeline(example_ws, until="ingest", log=lambda _: None)
    assert not leftover.exists()
    assert run_pipeline(example_ws, until="ingest", log=lambda _: None)[0].name == "ingest"  # free again


def test_run_into_a_closed_pipe_stops_and_does_not_claim_success(example_ws):
    import subprocess
    import sys

    shell = (f"{sys.executable} -m personatune.cli run {example_ws.root} --until chunk | head -c 1 > /dev/null; "
             "echo ${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "141", result.stderr
    assert "output closed early" in result.stderr


def test_a_full_disk_is_one_clear_line(example_ws, monkeypatch, capsys):
    import errno

    def full(ctx, settings):
        raise OSError(errno.ENOSPC, "No space left on device", str(ctx.out / "documents.jsonl"))

    monkeypatch.setitem(STAGES, "clean", replace(STAGES["clean"], run=full))
    assert main(["run", str(example_ws.root), "--until", "clean"]) == 1
    err = capsys.readouterr().err
    assert "the disk is full writing" in err and "Traceback" not in err
