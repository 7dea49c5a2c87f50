"""Wall time and peak memory of `personatune train` on the example persona with default settings.

    .venv/bin/python bench/train_example.py [--workspace DIR]

Builds the example dataset in a temporary workspace unless one is given, then runs the train
command exactly as a user would (in a child process, so its peak RSS is its own).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    from train_throughput import prepare_workspace

    from personatune import artifacts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "train_example.json"))
    args = parser.parse_args()
    ws = prepare_workspace(args.workspace)
    started = time.time()
    done = subprocess.run([str(Path(sys.executable).parent / "personatune"), "train", str(ws), "--no-progress"],
                          capture_output=True, text=True)
    wall = time.time() - started
    if done.returncode:
        sys.exit(done.stderr[-2000:])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    runs = sorted((ws / "runs").iterdir())
    record = json.loads((runs[-1] / "run.json").read_text())
    result = {"wall_seconds": round(wall, 1), "train_seconds": record["train_seconds"],
              "steps": record["steps"], "tokens": record["tokens"], "tokens_per_s": record["tokens_per_s"],
              "final_loss": record["final_loss"], "best_val_loss": record["best_val_loss"],
              "peak_memory_mb": round(peak_mb), "settings": record["settings"], "examples": record["examples"]}
    print(json.dumps(result, indent=2))
    print(f"example persona, default settings: {wall / 60:.1f} min wall (target <= 5), peak memory {peak_mb:.0f} MB")
    artifacts.write_json(args.output, result)


if __name__ == "__main__":
    main()
