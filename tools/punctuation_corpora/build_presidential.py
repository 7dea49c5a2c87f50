"""kfogel/presidential-speeches @ a4c8b38 (public domain, 17 U.S.C. 105): speeches from 1945 on, one document each."""
import json
import subprocess
import sys

GIT = "/work/.mirror/kfogel+presidential-speeches/repo"  # a bare clone of the repository
COMMIT = "a4c8b38"


def main(out: str) -> None:
    files = subprocess.run(["git", "-C", GIT, "ls-tree", "-r", COMMIT, "--name-only"], capture_output=True,
                           text=True, check=True).stdout.split()
    with open(out, "w", encoding="utf-8") as f:
        for path in files:
            if not path.startswith("data/") or int(path[5:9]) < 1945:
                continue
            text = subprocess.run(["git", "-C", GIT, "show", f"{COMMIT}:{path}"], capture_output=True, text=True,
                                  check=True).stdout
            lines = text.split("\n")
            body = "\n".join(lines[1:] if lines and lines[0].startswith("President:") else lines).strip()
            f.write(json.dumps({"source": "kfogel/presidential-speeches", "path": path, "commit": COMMIT,
                                "licence": "public domain (17 U.S.C. 105), stated in LICENSE.md", "register": "formal",
                                "text": body}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "presidential.jsonl")
