"""Benchmark: `personatune serve` under concurrent clients on loopback.

    .venv/bin/python bench/serve_load.py                         # 20 clients x 5 requests, 16 tokens
    .venv/bin/python bench/serve_load.py --clients 4 --requests 2   # a quick smoke run

The server is the real command, `personatune serve WS --model base --port 0`, in its own process
(its own GIL, as a user runs it), over the bundled example persona built into a temporary
workspace (untimed). N client threads, each on one keep-alive connection, send M chat requests
at once after a common start; half stream (time to first token is measured on those), half do
not. Questions are the example's probe questions, greedy, so every run asks for the same work.
One model serves them all, so requests queue: the queue is sized to the clients (--queue) and
any error, 429 included, counts as an error.

Before the load, the same prompts are generated directly on the engine, one after another, in
this process: the served tokens/s over that direct figure is what the server costs (or gains,
nothing here batches). Traffic goes to 127.0.0.1 only, and the run is bounded by --deadline.
Results go to bench/results/serve_load.json (written atomically) and a summary on stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serve_load.json"
EXAMPLES = ROOT / "examples"
_URL = re.compile(r"at (http://127\.0\.0\.1:\d+/)")


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def build_workspace(root: Path):
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    init_workspace(root, [str(EXAMPLES / "creator")], name="Marta Kowalczyk",
                   gold_labels=str(EXAMPLES / "gold_labels.jsonl"), probes=str(EXAMPLES / "probes.yaml"))
    ws = Workspace.open(root)
    run_pipeline(ws, log=lambda _: None)
    return ws


def questions() -> list[str]:
    probes = yaml.safe_load((EXAMPLES / "probes.yaml").read_text())
    return [item["question"] for group in probes.values() if isinstance(group, list) for item in group
            if isinstance(item, dict) and item.get("question")]


def direct_baseline(ws, asks: list[str], args: argparse.Namespace) -> dict:
    """The same generations straight on the engine, one after another: what the model alone does."""
    from personatune.persona.prompting import Persona, Toggles
    from personatune.runtime.engines import open_engine
    from personatune.runtime.generation import Settings

    engine = open_engine(ws, "base", log=lambda _: None)
    persona = Persona(ws, log=lambda _: None)
    settings = Settings(temperature=0.0, max_new_tokens=args.max_tokens)
    toggles = Toggles(card=args.card, rag=args.rag)
    engine.complete(persona.prompt([{"role": "user", "content": asks[0]}], toggles, engine, settings).messages,
                    settings)  # warm-up
    tokens, started = 0, time.perf_counter()
    for question in asks[: args.baseline]:
        prompt = persona.prompt([{"role": "user", "content": question}], toggles, engine, settings)
        engine.complete(prompt.messages, settings)
        tokens += engine.last.completion_tokens
    seconds = time.perf_counter() - started
    return {"requests": args.baseline, "seconds": round(seconds, 2),
            "seconds_per_request": round(seconds / args.baseline, 3), "tokens_per_s": round(tokens / seconds, 1)}


def start_server(ws_root: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "personatune", "serve", str(ws_root), "--model", "base", "--port", "0",
               "--temperature", "0", "--max-new-tokens", str(args.max_tokens), "--queue", str(args.queue),
               "--card" if args.card else "--no-card", "--rag" if args.rag else "--no-rag"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {server.wait()} before it was ready")
        if match := _URL.search(line):
            # keep draining its request log so a full pipe never blocks it
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
            return server, match.group(1)
    server.kill()
    raise RuntimeError("server did not start within 300 s")


def one_request(connection: http.client.HTTPConnection, question: str, stream: bool, max_tokens: int) -> dict:
    body = {"model": "base", "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "stream": stream, **({"stream_options": {"include_usage": True}} if stream else {})}
    started = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", body=json.dumps(body),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    result = {"stream": stream, "status": response.status, "first_token_s": None, "tokens": 0}
    if response.status != 200 or not stream:
        payload = json.loads(response.read() or b"{}")
        result["tokens"] = payload.get("usage", {}).get("completion_tokens", 0)
    else:
        for line in response:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                result["status"] = chunk["error"].get("code") or "stream error"
            elif chunk.get("usage"):
                result["tokens"] = chunk["usage"]["completion_tokens"]
            elif result["first_token_s"] is None and chunk["choices"][0]["delta"].get("content"):
                result["first_token_s"] = time.perf_counter() - started
    result["latency_s"] = time.perf_counter() - started
    return result


def connect(url: str, timeout: float) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def client(url: str, index: int, asks: list[str], args: argparse.Namespace, start: threading.Barrier,
           stop_at: float, results: list) -> None:
    connection = connect(url, args.deadline)
    start.wait()
    for i in range(args.requests):
        if time.monotonic() > stop_at:
            results.append({"status": "not sent (deadline)", "latency_s": None, "stream": None, "tokens": 0})
            continue
        question = asks[(index * args.requests + i) % len(asks)]
        try:
            results.append(one_request(connection, question, stream=(index + i) % 2 == 0, max_tokens=args.max_tokens))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            results.append({"status": type(exc).__name__, "latency_s": None, "stream": None, "tokens": 0})
            connection.close()
    connection.close()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank
        return round(ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))], 3)

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": round(ordered[-1], 3),
            "mean": round(sum(ordered) / len(ordered), 3)}


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--requests", type=int, default=5, help="requests per client (default 5)")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens per request (default 16)")
    parser.add_argument("--queue", type=int, help="server --queue (default: clients, so nobody should get 429)")
    parser.add_argument("--card", action=argparse.BooleanOptionalAction, default=False,
                        help="persona card in the prompt (default off: ~30-token prompts)")
    parser.add_argument("--rag", action=argparse.BooleanOptionalAction, default=False,
                        help="retrieved passages in the prompt (default off; on makes ~1,100-token prompts)")
    parser.add_argument("--baseline", type=int, default=10, help="direct engine generations to compare with")
    parser.add_argument("--deadline", type=float, default=900, help="seconds after which no new request is sent")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    args.queue = args.clients if args.queue is None else args.queue
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    info = machine()
    asks = questions()

    with tempfile.TemporaryDirectory(prefix="ptbench-serve-") as tmp:
        ws = build_workspace(Path(tmp) / "ws")
        baseline = direct_baseline(ws, asks, args)
        print(f"direct engine: {baseline['seconds_per_request']:.2f} s/request, {baseline['tokens_per_s']} tokens/s",
              file=sys.stderr)
        server, url = start_server(ws.root, args)
        try:
            warm = connect(url, 300)
            one_request(warm, asks[0], stream=False, max_tokens=args.max_tokens)  # first-request costs, untimed
            warm.close()
            results: list[dict] = []
            start = threading.Barrier(args.clients + 1)
            stop_at = time.monotonic() + args.deadline
            threads = [threading.Thread(target=client, args=(url, i, asks, args, start, stop_at, results))
                       for i in range(args.clients)]
            for thread in threads:
                thread.start()
            start.wait()
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            server_rss = peak_rss_mb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)  # Ctrl-C: serve stops cleanly
            try:
                server_exit = server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server_exit = "killed"

    ok = [r for r in results if r["status"] == 200]
    errors: dict[str, int] = {}
    for r in results:
        if r["status"] != 200:
            errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1
    tokens = sum(r["tokens"] for r in ok)
    served_tps = tokens / wall
    out = {
        "benchmark": "serve_load",
        "started": started_at,
        "machine": {**info, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "settings": {"clients": args.clients, "requests_per_client": args.requests, "max_tokens": args.max_tokens,
                     "queue": args.queue, "card": args.card, "rag": args.rag, "model": "base (smollm2-135m-instruct)",
                     "temperature": 0.0},
        "method": "real `personatune serve` in a subprocess on 127.0.0.1; N client threads x M requests on keep-alive "
                  "connections, started together; alternate streaming/non-streaming; untimed warm-up request; "
                  "direct baseline = the same prompts generated sequentially on the engine in the bench process",
        "requests": len(results),
        "ok": len(ok),
        "errors": errors,
        "wall_seconds": round(wall, 2),
        "requests_per_s": round(len(ok) / wall, 3),
        "completion_tokens": tokens,
        "tokens_per_s": round(served_tps, 1),
        "latency_s": percentiles([r["latency_s"] for r in ok]),
        "first_token_s_streaming": percentiles([r["first_token_s"] for r in ok if r["first_token_s"] is not None]),
        "direct_engine": baseline,
        "served_over_direct_tokens_per_s": round(served_tps / baseline["tokens_per_s"], 3),
        "server_peak_rss_mb": server_rss,
        "server_exit": server_exit,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = args.output.with_name(f"{args.output.name}.{os.getpid()}.tmp")
    tmp_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_path, args.output)

    lat, ttft = out["latency_s"], out["first_token_s_streaming"]
    print(f"{len(ok)}/{len(results)} ok, errors {errors or 'none'}; {out['requests_per_s']} req/s, "
          f"{out['tokens_per_s']} tokens/s over {wall:.1f} s ({out['served_over_direct_tokens_per_s']:.2f}x direct)")
    if lat:
        print(f"latency s: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    if ttft:
        print(f"first token s (streaming): p50 {ttft['p50']}  p90 {ttft['p90']}  max {ttft['max']}")
    print(f"server peak RSS {server_rss} MB, exit {server_exit}; results in {args.output}")
    return 0 if not errors and server_exit == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
