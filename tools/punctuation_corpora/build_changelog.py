import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import list_files, passes, read_blobs, strip_markdown, tidy, write_jsonl

GIT = "/work/.mirror/thechangelog+transcripts/repo"
COMMIT = "44a0e16c5919d332e05de481919fbfca90a2c90b"
LICENCE = ("CC-BY-SA-4.0; README.md 'License & Copyright': \"[Creative Commons Attribution Share Alike 4.0]"
           "(https://creativecommons.org/licenses/by-sa/4.0/).\" ... \"Everything else copyright Changelog Media LLC.\"; LICENSE file = CC BY-SA 4.0 legal code")
SPEAKER = re.compile(r"^\*\*[^*]{1,80}?:?\*\*:?\s*")
ESC_BRACKET = re.compile(r"\\\[.*?\\\]")
REJECTS = []


def clean(md):
    paras = []
    for line in md.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "|", "```", "![")):
            continue
        line = SPEAKER.sub("", line)
        line = ESC_BRACKET.sub(" ", line)
        line = line.replace("\\", "")
        line = strip_markdown(line)
        line = re.sub(r"\[\s*\d{1,2}:\d{2}(?::\d{2})?(?:[.:]\d+)?\s*\]?", " ", line)   # stray/unbalanced timestamps
        line = re.sub(r"\[(?:laugh\w*|unintelligible[^\[\]]*|music|applause|crosstalk|inaudible)[\[\]]?", " ", line, flags=re.I)
        line = re.sub(r"\[[^\[\]]{0,40}\]", " ", line)                   # unescaped [laughs], [Wut?], [...]
        line = tidy(line)
        if not line or re.fullmatch(r"[\W_]*", line):
            continue
        if re.match(r"^(?:break|outro|intro)\s*:", line, re.I):
            continue
        paras.append(line)
    return "\n".join(paras)


def records():
    paths = [p for p in list_files(GIT, COMMIT) if p.endswith(".md") and "/" in p
             and not p.startswith((".github/", "bigtent/"))]
    for path, md in read_blobs(GIT, COMMIT, sorted(paths)):
        text = clean(md)
        if not passes(path, text, REJECTS):
            continue
        yield {"source": "thechangelog/transcripts", "path": path, "commit": COMMIT,
               "licence": LICENCE, "register": "formal" if path.startswith("news/") else "informal", "text": text}


if __name__ == "__main__":
    n, w = write_jsonl("/work/corpora/changelog.jsonl", records())
    print("docs", n, "words", w, "rejected", len(REJECTS))
    for r in REJECTS[:30]:
        print(r)
