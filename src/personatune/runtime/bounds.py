"""What a client may make `serve` hold, and for how long: the limits (body size, tokens, time,
queue length), each model's turn-taking, and one generation running under a deadline.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from personatune.runtime import openai_api as api
from personatune.runtime.generation import Engine, Finish, Settings
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting


@dataclass
class Limits(BaseSettings):
    max_body_bytes: int = setting(256 * 1024, help="largest request body accepted (413 above)")
    max_tokens: int = setting(1024, help="cap on max_tokens per request")
    timeout_s: float = setting(120.0, help="seconds a generation may run before it is cut off (finish_reason length)")
    queue: int = setting(16, help="requests that may wait for a busy model before new ones get 429")

    def problems(self) -> list[str]:
        out = [f"{name} must be > 0" for name in ("max_body_bytes", "max_tokens", "timeout_s") if getattr(self, name) <= 0]
        if self.queue < 0:
            out.append("queue must be >= 0")
        return out


class Slot:
    """Turn-taking for one model: one generation runs, at most `queue` wait, the rest are refused."""

    def __init__(self, capacity: int):
        self.turn = threading.Lock()
        self.capacity = capacity
        self.pending = 0  # running + waiting
        self._count = threading.Lock()

    def admit(self, model: str) -> None:
        with self._count:
            if self.pending >= self.capacity + 1:
                raise api.ApiError(429, f"model {model} is busy and {self.capacity} requests are already waiting; "
                                   "retry shortly", type="rate_limit_error", code="queue_full",
                                   headers={"Retry-After": "1"})
            self.pending += 1

    def leave(self) -> None:
        with self._count:
            self.pending -= 1


class Generation:
    """One generation in a thread of its own, holding the model's turn while the engine runs.

    The request thread only reads pieces, so a model that stalls cannot hold it past its deadline;
    when it stops reading (deadline, client gone) it cancels, and the engine's stream is closed at
    the next piece, which ends the generation and frees the model for the next request.
    """

    _END = object()

    def __init__(self, slot: Slot, engine: Engine, messages: list[dict], settings: Settings):
        self.slot, self.engine, self.messages, self.settings = slot, engine, messages, settings
        self.items: queue.Queue = queue.Queue()
        self.started, self.cancelled = threading.Event(), threading.Event()
        self.finish: Finish | None = None  # set when the engine ends; None after a timeout
        self.produced, self.timed_out = 0, False
        threading.Thread(target=self._run, daemon=True, name=f"generate-{engine.name}").start()

    def _run(self) -> None:
        try:
            with self.slot.turn:
                self.started.set()
                if self.cancelled.is_set():  # its client left while it waited
                    return
                stream = self.engine.stream(self.messages, self.settings)
                try:
                    for piece in stream:
                        if self.cancelled.is_set():
                            break
                        self.items.put(piece)
                    else:
                        self.items.put(self.engine.last)  # read under the turn: no other request overwrites it
                finally:
                    stream.close()
        except Exception as exc:  # handed to the request thread, which answers and logs it
            self.items.put(exc)
        finally:
            self.slot.leave()
            self.items.put(self._END)

    def pieces(self, timeout_s: float):
        """Text pieces until the engine ends or `timeout_s` after it started (then finish stays None)."""
        self.started.wait()  # the queue bound keeps this wait bounded; the deadline is for generating
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                item = self.items.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.timed_out = True
                self.cancel()
                return
            if item is self._END:
                return
            if isinstance(item, Finish):
                self.finish = item
            elif isinstance(item, Exception):
                raise item
            else:
                self.produced += 1
                yield item

    def cancel(self) -> None:
        self.cancelled.set()

    def finish_or_cut(self) -> Finish:
        """The engine's own account, or after a timeout 'length' with the pieces counted as tokens
        (approximate: exact counts exist only once the engine ends)."""
        if self.finish is not None:
            return self.finish
        return Finish("length", self.engine.count(self.messages), self.produced)
