"""Terminal chat: commands, toggles, history and streamed answers with the real embedded model."""

from __future__ import annotations

import io

import pytest

from personatune.persona.prompting import Persona, Toggles
from personatune.runtime.generation import Engine, Finish, Settings


class Echo(Engine):
    """Answers with the number of messages it was given; counts a token per word."""

    def __init__(self, window: int = 4096):
        super().__init__()
        self.max_context, self.seen = window, []

    def render(self, messages):
        return " ".join(f"<{m['role']}> {m['content']}" for m in messages)

    def count(self, messages):
        return len(self.render(messages).split())

    def stream(self, messages, settings):
        self.seen.append(messages)
        yield f"{len(messages)} messages"
        self.last = Finish("stop", self.count(messages), 2)


def session(example_built, window: int = 4096):
    from personatune.runtime.chat import ChatSession

    ws, _ = example_built
    return ChatSession(Echo(window), Persona(ws, log=lambda _: None), Settings(max_new_tokens=64), Toggles())


def test_commands_change_settings_and_toggles(example_built):
    chat = session(example_built)
    assert chat.command("/set temperature 0.2") == "temperature = 0.2" and chat.settings.temperature == 0.2
    assert chat.command("/set max-new-tokens 20") == "max-new-tokens = 20" and chat.settings.max_new_tokens == 20
    assert chat.command("/set temperature -1").startswith("not changed:") and chat.settings.temperature == 0.2
    assert chat.command("/set nonsense 1").startswith("not changed: command line: unknown setting")
    assert chat.command("/rag off") == "rag off" and not chat.toggles.rag
    assert chat.command("/card maybe").startswith("usage")
    assert "temperature" in chat.command("/help") and chat.command("/bogus").startswith("unknown command")
    assert chat.command("/quit") is None


def test_card_and_rag_shape_the_system_message_and_history_accumulates(example_built):
    chat = session(example_built)
    assert "".join(chat.reply("Where were you born?")) == "2 messages"
    system = chat.engine.seen[-1][0]["content"]
    assert system.startswith("You are Marta Kowalczyk. Answer as yourself") and "Passages from your own material" in system
    assert chat.passages and "@" in chat.passages[0]["where"] and "[1]" in chat.command("/sources")
    chat.command("/card off")
    chat.command("/rag off")
    assert "".join(chat.reply("And your grandfather?")) == "4 messages"
    assert chat.engine.seen[-1][0]["content"] == "You are Marta Kowalczyk."  # what training used
    assert [m["role"] for m in chat.history] == ["user", "assistant", "user", "assistant"]
    chat.command("/reset")
    assert chat.history == [] and chat.command("/sources").startswith("no passages")


def test_history_is_trimmed_to_the_context_window(example_built):
    chat = session(example_built, window=200)
    chat.toggles.rag = chat.toggles.card = False
    for n in range(12):
        "".join(chat.reply(f"question number {n} " + "word " * 20))
    sent = chat.engine.seen[-1]
    assert sent[0]["role"] == "system" and sent[1]["role"] == "user"  # never opens with an orphaned answer
    assert chat.engine.count(sent) <= 200 - 64 and len(sent) < 24
    assert sent[-1]["content"].startswith("question number 11")


def test_a_message_longer_than_the_window_is_one_clear_error(example_built):
    from personatune.errors import UserError

    chat = session(example_built, window=200)
    with pytest.raises(UserError, match="too long"):
        "".join(chat.reply("y " * 500))


@pytest.mark.integration
def test_chat_command_streams_answers_from_the_real_model(example_built, monkeypatch, capsys):
    from personatune.cli import main

    ws, _ = example_built
    script = "/set temperature 0\n/set max_new_tokens 8\nWhere were you born?\n/sources\n/rag off\nHi\n/quit\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    assert main(["chat", str(ws.root), "--model", "base"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chatting with Marta Kowalczyk (base)")
    assert out.count("Marta Kowalczyk> ") == 2 and "tok/s" in out and "passages (/sources)" in out
    answers = [line.split("> ", 1)[1] for line in out.splitlines() if line.startswith("Marta Kowalczyk> ")]
    assert all(a.strip() for a in answers)


def test_repetition_penalty_spares_the_prompt_and_hits_the_answer():
    import torch

    from personatune.runtime.hf_engine import AnswerRepetitionPenalty

    scores = torch.tensor([[2.0, -1.0, 3.0, 0.5]])
    penalty = AnswerRepetitionPenalty(2.0, prompt_length=2)
    prompt_only = torch.tensor([[0, 2]])
    assert torch.equal(penalty(prompt_only, scores.clone()), scores)  # passages in the prompt stay quotable
    out = penalty(torch.tensor([[0, 2, 2, 1]]), scores.clone())  # the answer so far used tokens 2 and 1
    assert out.tolist() == [[2.0, -2.0, 1.5, 0.5]]
