"""Running the model: generation engines, terminal chat, and the OpenAI-compatible server.

Reads a run's merged model (Hugging Face) or its GGUF files (`DIR/export/<run>/`) and the persona
(card, index); writes nothing to the workspace. `generation` defines the engine interface and
settings, `hf_engine` and `gguf_engine` the two backends, `serve` the HTTP API and its page
(`http_server` its server and request handler, `bounds` its limits, queue and deadlines).
"""
