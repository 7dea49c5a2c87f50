"""Blind ratings in DIR/ratings.sqlite (append-only, one row per vote) and what the votes add up
to: the latest vote per rater and prompt, win rates with a Wilson interval, a one-line summary.

The rating page and its server are in `rating`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from personatune.errors import UserError
from personatune.eval.metrics.intervals import wilson_interval

DB_NAME = "ratings.sqlite"
CHOICES = ("left", "right", "tie")


# ---------------------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class Rating:
    """One stored vote. `winner` is the variant picked, None for a tie."""

    id: int
    eval_id: str
    set: str
    prompt_id: str
    variant_left: str
    variant_right: str
    winner: str | None
    choice: str
    rater: str | None
    created_at: str


# Append-only: a new schema change is a new function at the end; user_version counts those applied.
def _create_ratings(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            eval_id TEXT NOT NULL,
            "set" TEXT NOT NULL,
            prompt_id TEXT NOT NULL,
            variant_left TEXT NOT NULL,
            variant_right TEXT NOT NULL,
            winner_variant TEXT,
            choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie')),
            rater TEXT,
            created_at TEXT NOT NULL
        )""")
    db.execute('CREATE INDEX ratings_by_prompt ON ratings (eval_id, "set", prompt_id)')


MIGRATIONS = [_create_ratings]


class RatingStore:
    """Ratings in SQLite (WAL, so a report can read while the server writes). Rows are only ever
    added. One connection behind a lock serves every request thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False,
                                   isolation_level=None)  # autocommit; transactions are explicit
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise UserError(f"{self.path}: cannot use it as the ratings database ({exc}); "
                                "move it aside") from None
            raise

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # two processes opening a new file: one creates it
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise UserError(f"{self.path} was written by a newer personatune (schema {version}, this one "
                                    f"knows {len(MIGRATIONS)}); upgrade personatune")
                for migration in MIGRATIONS[version:]:
                    migration(self._db)
                self._db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def add(self, eval_id: str, set: str, prompt_id: str, variant_left: str, variant_right: str, choice: str,
            rater: str | None = None) -> Rating:
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
        winner = {"left": variant_left, "right": variant_right}.get(choice)
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
            cursor = self._db.execute(
                'INSERT INTO ratings (eval_id, "set", prompt_id, variant_left, variant_right, winner_variant, '
                "choice, rater, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (eval_id, set, prompt_id, variant_left, variant_right, winner, choice, rater, created))
            id = cursor.lastrowid
        return Rating(id, eval_id, set, prompt_id, variant_left, variant_right, winner, choice, rater, created)

    def ratings(self, eval_id: str | None = None, variants: tuple[str, str] | None = None) -> list[Rating]:
        """Stored votes, oldest first; optionally of one eval and one pair of variants (either side)."""
        where, params = [], []
        if eval_id is not None:
            where.append("eval_id = ?")
            params.append(eval_id)
        if variants is not None:
            a, b = variants
            where.append("((variant_left = ? AND variant_right = ?) OR (variant_left = ? AND variant_right = ?))")
            params += [a, b, b, a]
        sql = ('SELECT id, eval_id, "set", prompt_id, variant_left, variant_right, winner_variant, choice, rater, '
               "created_at FROM ratings" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id")
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Rating(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------------------------- statistics


def latest_votes(ratings: Iterable[Rating]) -> list[Rating]:
    """One vote per rater per prompt per pair of variants: the latest (the store appends a change of
    mind, or a second tab's vote, rather than overwriting)."""
    latest: dict[tuple, Rating] = {}
    for rating in sorted(ratings, key=lambda r: r.id):
        pair = tuple(sorted((rating.variant_left, rating.variant_right)))
        latest[(rating.eval_id, rating.set, rating.prompt_id, rating.rater, pair)] = rating
    return list(latest.values())


def win_rates(ratings: RatingStore | Iterable[Rating], a: str, b: str, eval_id: str | None = None) -> dict:
    """How `a` fared against `b`, from the votes on that pair (of one eval, or of all when None).

    Votes are counted once per rater and prompt (latest_votes). With W = a's wins, L = b's wins,
    T = ties and N = W + L + T:
        win_rate        = (W + T/2) / N      ties count as half a win each
        a_wins_or_ties  = (W + T) / N        share of votes where a was at least as good
        decisive_rate   = W / (W + L)        ties left out
        ci95            = Wilson 95% score interval (metrics.intervals.wilson_interval, z = 1.96) of
                          decisive_rate over the W + L decisive votes
    Rates are None when there are no votes to divide by.
    """
    rows = ratings.ratings(eval_id, (a, b)) if isinstance(ratings, RatingStore) else [
        r for r in ratings if {r.variant_left, r.variant_right} == {a, b} and eval_id in (None, r.eval_id)]
    votes = latest_votes(rows)
    wins_a = sum(1 for r in votes if r.winner == a)
    wins_b = sum(1 for r in votes if r.winner == b)
    ties = sum(1 for r in votes if r.winner is None)
    n, decisive = wins_a + wins_b + ties, wins_a + wins_b
    interval = wilson_interval(wins_a, decisive) if decisive else None
    return {
        "a": a, "b": b, "eval_id": eval_id, "votes": n, "decisive": decisive,
        "raters": len({r.rater for r in votes}),
        "by_variant": {a: {"wins": wins_a, "losses": wins_b, "ties": ties},
                       b: {"wins": wins_b, "losses": wins_a, "ties": ties}},
        "win_rate": (wins_a + ties / 2) / n if n else None,
        "a_wins_or_ties": (wins_a + ties) / n if n else None,
        "decisive_rate": wins_a / decisive if decisive else None,
        "ci95": list(interval) if interval else None,
    }


def describe(result: dict) -> str:
    """One line for a console: who won how often, with the interval."""
    a, b = result["a"], result["b"]
    if not result["votes"]:
        return f"{a} vs {b}: no votes yet"
    counts = result["by_variant"][a]
    line = (f"{a} vs {b}: {counts['wins']} wins, {counts['losses']} losses, {counts['ties']} ties; "
            f"win rate {result['win_rate']:.0%} (ties as half)")
    if result["ci95"]:
        low, high = result["ci95"]
        line += f"; without ties {result['decisive_rate']:.0%} [{low:.0%}, {high:.0%}] Wilson 95%"
    return line
