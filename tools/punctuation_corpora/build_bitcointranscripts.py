import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import list_files, passes, read_blobs, strip_markdown, tidy, write_jsonl

GIT = "/work/.mirror/bitcointranscripts+bitcointranscripts/repo"
COMMIT = "52ccbbe25d18a1db9403526a8b8b3b0be9ff6959"
LICENCE = ("MIT; LICENSE.md: \"The MIT License (MIT) Copyright (c) 2021 Bitcoin Transcripts ... Permission is hereby granted, "
           "free of charge, to any person obtaining a copy of this software and associated documentation files\". "
           "Caveat: a software licence applied to transcripts of third-party talks/podcasts; speakers' underlying rights not addressed.")
LANG_SUFFIX = re.compile(r"\.(es|pt|ja|zh|de|fr|it|ko|ru|hi|ar|tr|id|nl|pl|vi|cs)\.md$")
TOKEN = r"(?:[A-Z][\w.'’\-]*|[A-Z]{1,3}\d+|Q|A)"
SPEAKER = re.compile(r"^(?:\*\*)?" + TOKEN + r"(?: (?:" + TOKEN + r"|member|speaker|question|participant|host|\d+)){0,3}(?:\*\*)?:(?:\*\*)?(?=\s|$)\s*(?:\(?\d{1,2}:\d{2}(?::\d{2})?\)?)?\s*")
TIMESTAMP = re.compile(r"[\[(]?\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b[\])]?|\[\d{1,2}:\d{2}\]|\(\d{1,2}:\d{2}\)")
NONSPEECH = re.compile(r"\((?:laughs?|laughter|applause|inaudible|crosstalk|unintelligible|audience[^)]*|music|silence|pause)[^)]*\)", re.I)
REJECTS = []


def front_matter(md):
    meta = {}
    if md.startswith("---"):
        end = md.find("\n---", 3)
        if end > 0:
            for line in md[3:end].splitlines():
                if ":" in line and not line.startswith(" "):
                    k, v = line.split(":", 1)
                    meta[k.strip()] = v.strip().strip("'\"")
            md = md[end + 4:]
    return meta, md


def clean(body):
    paras, in_code = [], False
    for line in body.splitlines():
        raw = line.strip()
        if raw.startswith("```"):
            in_code = not in_code
            continue
        if in_code or not raw or raw.startswith(("#", "|", "![", "<!--", "{{", ">")):
            continue
        if re.match(r"^(?:[-*+]|\d+[.)])\s", raw):   # list items: notes, not speech
            continue
        if re.match(r"^(?:\*\*)?(?:Sponsorship|Disclaimer|Tweet|Transcript completed by|Transcript by|Edited by|Slides|Video|Audio|Media|Location|Date|Paper|Source|Topic)s?(?:\*\*)?\s*:", raw) \
                or raw.startswith(("These transcripts are", "The conversation has been anonymized", "No video posted online",
                                   "Chaincode Labs", "Audience Member asks a question")) \
                or re.match(r'^(?:Tweet: )?Transcript: "', raw):
            continue
        line = strip_markdown(raw)
        line = re.sub(r"</?[A-Za-z][^>]*>", " ", line)
        line = re.sub(r"\[[^\]]*\]", " ", line)      # [inaudible], [laughter], editorial notes
        line = NONSPEECH.sub(" ", line)
        line = re.sub(r"\(\([^)]*\)\)", " ", line)   # ((editorial))
        line = SPEAKER.sub("", line)
        line = TIMESTAMP.sub(" ", line)
        line = re.sub(r"https?://\S+", " ", line)
        line = tidy(line)
        if not line or not re.search(r"[A-Za-z]", line):
            continue
        words = line.split()
        if line.endswith(":") and len(words) < 8:        # "Slides:", "Docs:" etc.
            continue
        if len(words) < 4 and not re.search(r"[.?!…]$", line):
            continue
        paras.append(line)
    return "\n".join(paras)


def records():
    paths = [p for p in list_files(GIT, COMMIT) if p.endswith(".md") and "/" in p
             and not p.startswith(".github/") and not p.endswith("_index.md") and not LANG_SUFFIX.search(p)]
    for path, md in read_blobs(GIT, COMMIT, sorted(paths)):
        meta, body = front_matter(md)
        by = meta.get("transcript_by", "")
        if not by or re.search(r"\bvia\b|generated|tstbtc|tbtbtc", by, re.I):
            REJECTS.append((path, "machine-generated or unknown transcriber: " + by))
            continue
        text = clean(body)
        if not passes(path, text, REJECTS):
            continue
        yield {"source": "bitcointranscripts/bitcointranscripts", "path": path, "commit": COMMIT,
               "licence": LICENCE, "register": "informal", "transcript_by": by, "text": text}


if __name__ == "__main__":
    n, w = write_jsonl("/work/corpora/bitcointranscripts.jsonl", records())
    print("docs", n, "words", w, "rejected", len(REJECTS))
    import collections
    print(collections.Counter(str(r[1])[:40] for r in REJECTS).most_common(15))
    for r in REJECTS:
        if isinstance(r[1], dict):
            print(r)
