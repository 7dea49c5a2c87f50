"""Shared helpers: read files from a bare git mirror, basic cleanup, quality check."""
import html
import json
import re
import subprocess


def list_files(gitdir, commit, prefix=None):
    cmd = ["git", "-C", gitdir, "ls-tree", "-r", "--name-only", commit]
    if prefix:
        cmd.append(prefix)
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()


def read_blobs(gitdir, commit, paths):
    """Yield (path, text) using one `git cat-file --batch` process."""
    p = subprocess.Popen(["git", "-C", gitdir, "cat-file", "--batch"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for path in paths:
        p.stdin.write(f"{commit}:{path}\n".encode())
        p.stdin.flush()
        header = p.stdout.readline().decode()
        if header.endswith("missing\n"):
            continue
        size = int(header.split()[2])
        data = p.stdout.read(size)
        p.stdout.read(1)
        yield path, data.decode("utf-8", errors="replace")
    p.stdin.close()
    p.wait()


MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MD_AUTOLINK = re.compile(r"<https?://[^>]*>")
URL = re.compile(r"https?://\S+")


def strip_markdown(s):
    s = MD_LINK.sub(r"\1", s)
    s = MD_AUTOLINK.sub("", s)
    s = re.sub(r"(\*\*|__)(.+?)\1", r"\2", s)
    s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", s)
    s = re.sub(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])", r"\1", s)
    s = s.replace("`", "")
    return s


def tidy(s):
    s = html.unescape(s)
    s = s.replace("\u00a0", " ")
    s = re.sub(r"[ \t]+", " ", s)
    s = re.sub(r" +([,.;:?!])", r"\1", s)
    s = re.sub(r"\(\s*\)", "", s)
    s = re.sub(r"[ \t]+", " ", s)
    return s.strip()


SENT_END = re.compile(r"[.?!…][\"')\]”’]*(?=\s|$)")


def quality(text):
    """Return (ok, stats). ok means: genuinely punctuated, normally cased."""
    words = text.split()
    n = len(words)
    if n < 50:
        return False, {"words": n, "why": "short"}
    ends = len(SENT_END.findall(text))
    letters = [c for c in text if c.isalpha()]
    lower = sum(c.islower() for c in letters) / max(1, len(letters))
    wps = n / max(1, ends)
    stats = {"words": n, "sent_ends": ends, "words_per_sentence": round(wps, 1), "lower_frac": round(lower, 3)}
    if wps > 40:
        return False, dict(stats, why="few sentence ends")
    if lower < 0.6:
        return False, dict(stats, why="mostly upper case")
    if lower > 0.995:
        return False, dict(stats, why="no capitals")
    return True, stats


def passes(path, text, rejects):
    """True when the text is genuinely punctuated; otherwise its path and why go into `rejects`."""
    ok, stats = quality(text)
    if not ok:
        rejects.append((path, stats))
    return ok


def write_jsonl(path, records):
    n_docs = n_words = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n_docs += 1
            n_words += len(r["text"].split())
    return n_docs, n_words
