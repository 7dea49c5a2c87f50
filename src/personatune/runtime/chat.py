"""`personatune chat`: talk to the persona in the terminal, answers streamed as they are generated.

The session logic (commands, toggles, history) is separate from the terminal loop so it can be
driven by tests and by other front ends.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, fields

from personatune.errors import UserError
from personatune.persona.prompting import Persona, Toggles
from personatune.runtime.generation import Engine, Settings

HELP = """commands:
  /set NAME VALUE    change a generation setting: {names}
  /card on|off       the persona card as the system prompt
  /rag on|off        passages from the person's material in the prompt
  /sources           where the passages behind the last answer came from
  /settings          show the current settings and toggles
  /reset             forget the conversation
  /help              this text
  /quit              leave (or Ctrl-D)"""


@dataclass
class ChatSession:
    engine: Engine
    persona: Persona
    settings: Settings
    toggles: Toggles
    history: list[dict] = field(default_factory=list)
    passages: list[dict] = field(default_factory=list)

    def command(self, line: str) -> str | None:
        """Run a /command; returns the text to show, or None for /quit."""
        name, _, rest = line[1:].strip().partition(" ")
        rest = rest.strip()
        if name in ("quit", "exit", "q"):
            return None
        if name == "help":
            return HELP.format(names=", ".join(f.name for f in fields(Settings)))
        if name == "reset":
            self.history.clear()
            self.passages = []
            return "conversation cleared"
        if name in ("card", "rag"):
            if rest not in ("on", "off"):
                return f"usage: /{name} on|off (now {'on' if getattr(self.toggles, name) else 'off'})"
            setattr(self.toggles, name, rest == "on")
            return f"{name} {rest}"
        if name == "set":
            key, _, value = rest.partition(" ")
            if not key or not value.strip():
                return "usage: /set NAME VALUE, e.g. /set temperature 0.3"
            try:
                self.settings = self.settings.updated(**{key.replace("-", "_"): value.strip()})
            except UserError as exc:
                return f"not changed: {exc}"
            return f"{key} = {getattr(self.settings, key.replace('-', '_'))}"
        if name == "settings":
            values = ", ".join(f"{k}={v}" for k, v in self.settings.to_dict().items())
            return f"{values}\ncard {'on' if self.toggles.card else 'off'}, rag {'on' if self.toggles.rag else 'off'}"
        if name == "sources":
            if not self.passages:
                return "no passages were used for the last answer"
            return "\n".join(f"[{n}] {p['where']}: {p['text'][:160]}" for n, p in enumerate(self.passages, 1))
        return f"unknown command /{name}; /help lists them"

    def reply(self, text: str):
        """Stream the answer to `text`; the turn joins the history once the answer is complete."""
        turns = [*self.history, {"role": "user", "content": text}]
        prompt = self.persona.prompt(turns, self.toggles, self.engine, self.settings)
        self.passages = prompt.passages
        if prompt.dropped:
            del self.history[:prompt.dropped]  # what no longer fits the window is gone for good
        pieces: list[str] = []
        try:
            for piece in self.engine.stream(prompt.messages, self.settings):
                pieces.append(piece)
                yield piece
        finally:
            self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": "".join(pieces)}]


def run_chat(ws, model: str, run: str | None, settings: Settings, toggles: Toggles,
             stdin=None, stdout=None) -> int:
    from personatune.runtime.engines import open_engine

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    engine = open_engine(ws, model, run, context=settings.context, log=lambda m: print(m, file=sys.stderr))
    session = ChatSession(engine, Persona(ws, log=lambda m: print(m, file=sys.stderr)), settings, toggles)
    interactive = stdin.isatty()
    print(f"chatting with {ws.name} ({engine.name}); card {'on' if toggles.card else 'off'}, "
          f"rag {'on' if toggles.rag else 'off'}; /help for commands, /quit to leave", file=stdout, flush=True)
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            line = ""
        if not line:
            print(file=stdout)
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            answer = session.command(line)
            if answer is None:
                break
            print(answer, file=stdout, flush=True)
            continue
        stdout.write(f"{ws.name}> ")
        stdout.flush()
        started = time.perf_counter()
        try:
            for piece in session.reply(line):
                stdout.write(piece)
                stdout.flush()
        except KeyboardInterrupt:
            stdout.write("\n[stopped]")
        except UserError as exc:
            stdout.write(f"\n[{exc}]")
        seconds = time.perf_counter() - started
        done = engine.last.completion_tokens
        note = f"{done} tokens, {done / seconds:.1f} tok/s" if seconds > 0 else ""
        if session.passages:
            note += f", {len(session.passages)} passages (/sources)"
        print(f"\n  [{note}]", file=stdout, flush=True)
    return 0
