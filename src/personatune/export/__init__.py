"""Export: a run's merged model as files other programs run, each verified before it is handed over.

Reads `DIR/runs/<id>/merged/` (and the adapter); writes `DIR/export/<run>/`: GGUF files and Ollama
Modelfiles (`gguf_export`, `gguf_io`, `modelfile`, `verify`) and the static browser page `web/`
(`web`, `onnx_model`, `npm_vendor`, `page/`).
"""
