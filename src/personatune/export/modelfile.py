"""Ollama Modelfiles beside the exported GGUF files.

Ollama does not run the Jinja chat template; it runs a Go text/template (TEMPLATE). A wrong one is
the classic "talks nonsense or never stops" failure, so the TEMPLATE is written per template family
and checked: a conversation rendered through it (by Go's own text/template, in the tests) must give
exactly the text the tokenizer's chat template gives. Ollama adds BOS itself when the GGUF says
`add_bos_token`, so the TEMPLATE leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personatune import artifacts
from personatune.runtime.chat_template import render_chat
from personatune.train.batches import USER_HEADER
from personatune.workspace import Workspace

CHATML_TURN = "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"


@dataclass
class OllamaTemplate:
    template: str
    stops: list[str]


def _chatml(hf_template: str) -> OllamaTemplate:
    # Some chatml templates (SmolLM2's) inject a default system turn when the conversation has none.
    probe = render_chat(hf_template, [{"role": "user", "content": "X"}], add_generation_prompt=False)
    injected = probe.split("<|im_start|>user", 1)[0]
    head = ""
    if injected:
        head = ('{{ if or (eq (len .Messages) 0) (ne (index .Messages 0).Role "system") }}'
                + injected.replace("{{", '{{ "{{" }}') + "{{ end }}")
    body = "{{ range .Messages }}" + CHATML_TURN + "{{ end }}<|im_start|>assistant\n"
    return OllamaTemplate(head + body, ["<|im_end|>", "<|im_start|>"])


def _default(eos: str) -> OllamaTemplate:
    # personatune's documented template for bases without one (train/batches.py DEFAULT_CHAT_TEMPLATE).
    body = ('{{ range .Messages }}{{ if eq .Role "system" }}{{ .Content }}\n\n'
            '{{ else if eq .Role "user" }}' + USER_HEADER + '\n{{ .Content }}\n\n'
            '{{ else }}### Assistant:\n{{ .Content }}' + eos + '\n\n{{ end }}{{ end }}### Assistant:\n')
    return OllamaTemplate(body, [eos, USER_HEADER])


def ollama_template(hf_template: str, eos: str) -> OllamaTemplate | None:
    """The Go TEMPLATE equivalent to `hf_template`, or None for a family we cannot translate."""
    from personatune.train.batches import DEFAULT_CHAT_TEMPLATE

    if hf_template == DEFAULT_CHAT_TEMPLATE:
        return _default(eos)
    if "<|im_start|>" in hf_template and "<|im_end|>" in hf_template:
        return _chatml(hf_template)
    return None


def _quote(text: str) -> str:
    return '"""' + text.replace('"""', '"\u200b""') + '"""'


def render_modelfile(source: str, template: OllamaTemplate | None, system: str, settings,
                     adapter: str | None = None, title: str = "") -> str:
    lines = [f"# {title}".rstrip(), "# Build it with: ollama create NAME -f " + ("Modelfile.adapter" if adapter else "Modelfile"),
             f"FROM ./{source}"]
    if adapter:
        lines.append(f"ADAPTER ./{adapter}")
    if template is None:
        lines.append("# No TEMPLATE: this chat template family has no known Ollama translation; write one by hand.")
    else:
        lines.append(f"TEMPLATE {_quote(template.template)}")
        lines += [f"PARAMETER stop {_json(stop)}" for stop in template.stops]
    lines.append(f"SYSTEM {_quote(system.strip())}")
    lines += [f"PARAMETER temperature {settings.temperature}", f"PARAMETER top_p {settings.top_p}",
              f"PARAMETER repeat_penalty {settings.repetition_penalty}",
              f"PARAMETER num_predict {settings.max_new_tokens}", f"PARAMETER num_ctx {settings.context}"]
    return "\n".join(lines) + "\n"


def _json(text: str) -> str:
    import json

    return json.dumps(text)


def write_modelfiles(ws: Workspace, folder: Path, files: dict[str, Path], hf_template: str, settings=None,
                     log=print) -> list[Path]:
    import gguf

    from personatune.persona.prompting import Persona
    from personatune.runtime.generation import Settings

    settings = settings or Settings()
    reader = gguf.GGUFReader(str(files["f16"]))
    eos_id = int(reader.fields["tokenizer.ggml.eos_token_id"].contents())
    eos = reader.fields["tokenizer.ggml.tokens"].contents(eos_id)
    template = ollama_template(hf_template, eos)
    if template is None:
        log("warning: no Ollama TEMPLATE for this chat template family; the Modelfile leaves it for you to write")
    persona = Persona(ws, log=lambda _: None)
    system = persona.card or persona.plain_system
    main = next((files[k] for k in ("q8_0", "f16") if k in files), files["f16"])
    written = [folder / "Modelfile"]
    artifacts.write_text(written[0], render_modelfile(main.name, template, system, settings,
                                                      title=f"{ws.name}: merged model ({main.name})"))
    if "adapter" in files and "base" in files:
        written.append(folder / "Modelfile.adapter")
        artifacts.write_text(written[1], render_modelfile(files["base"].name, template, system, settings,
                                                          adapter=files["adapter"].name,
                                                          title=f"{ws.name}: base model + LoRA adapter"))
    return written
