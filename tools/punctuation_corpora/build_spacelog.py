import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import list_files, passes, read_blobs, tidy, write_jsonl

GIT = "/work/.mirror/Spacelog+Spacelog/repo"
COMMIT = "4d3bfefd8aae9e341d379ddd3c2cf8793c8e3e7a"
LICENCE = ("Public domain (US federal government work, 17 U.S.C. 105): NASA air-to-ground / onboard voice transcriptions, "
           "e.g. missions/a11/transcripts/_meta 'transcript_attributions': \"Apollo 11 Technical Air-to-Ground Voice Transcription\" "
           "(jsc.nasa.gov). Spacelog README: \"everything outside the `missions` directory is released under the CC-0 license\" "
           "(cleanup by volunteer 'cleaners'; no separate licence stated for missions/).")
# vostok1: Soviet source, English translation. mr3/mr4: transcribed by Spacelog volunteers from audio
# ("Based on the original audio recordings"), so not a NASA-authored text; excluded to keep the PD claim clean.
KEEP = re.compile(r"^missions/(?!vostok|mr3/|mr4/)[^/]+/transcripts/(TEC|CM|ATG|PAO)$")
LOGLINE = re.compile(r"^([A-Za-z0-9 /&().'-]{1,30}?)\s*:\s(.*)$")
REJECTS = []


def clean(src):
    utts, cur, in_meta = [], None, False
    for line in src.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^\[-?\d+:\d+:\d+:\d+(?:\.\d+)?\]\s*$", line):
            in_meta = False
            continue
        if line.startswith("_"):
            in_meta = True
            continue
        if line[0].isspace():
            if in_meta:
                continue
            if cur is not None:
                cur.append(line.strip())
            continue
        in_meta = False
        m = LOGLINE.match(line)
        text = m.group(2) if m else line
        cur = [text.strip()]
        utts.append(cur)
    out = []
    for parts in utts:
        t = " ".join(parts)
        t = re.sub(r"\[(?:glossary|time|tim|person|link):[^\]|]*\|([^\]]*)\]", r"\1", t)
        t = re.sub(r"\[(?:glossary|time|tim|person|link):([^\]]*)\]", r"\1", t)
        t = re.sub(r"<del>.*?</del>", " ", t)
        t = re.sub(r"<br\s*/?>", " ", t)
        t = re.sub(r"</?[A-Za-z][^>]{0,20}>", "", t)
        t = re.sub(r"\[[^\]]*\]", " ", t)   # editorial insertions: [percent], [sic], [?], timestamps
        t = tidy(t)
        if t and re.search(r"[A-Za-z0-9]", t):
            out.append(t)
    return "\n".join(out)


def records():
    paths = [p for p in list_files(GIT, COMMIT, "missions") if KEEP.match(p)]
    for path, src in read_blobs(GIT, COMMIT, sorted(paths)):
        text = clean(src)
        if not passes(path, text, REJECTS):
            continue
        yield {"source": "Spacelog/Spacelog", "path": path, "commit": COMMIT,
               "licence": LICENCE, "register": "informal", "text": text}


if __name__ == "__main__":
    n, w = write_jsonl("/work/corpora/spacelog_nasa.jsonl", records())
    print("docs", n, "words", w, "rejected", REJECTS)
