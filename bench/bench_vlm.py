"""VLM client throughput against the local chat server with 50 ms simulated latency, at concurrency 8
and 32: requests/s against the ideal concurrency / latency, and no answer lost or duplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import table
from publisher.ranking.vlm import VLMClient, VLMConfig

LATENCY_S = 0.050
GOAL = 0.90  # of concurrency / latency


def _image(i: int) -> bytes:
    """A small distinct payload (the server does not decode images; the figure is about the client)."""
    return b"\x89PNG\r\n\x1a\n" + i.to_bytes(4, "big") * 256


def answer(image: bytes, prompt: str, call_index: int) -> str:
    """The server's answer: the image's number modulo 101, so every answer can be checked."""
    return str(int.from_bytes(image[8:12], "big") % 101)


def _measure(concurrency: int, n_images: int) -> list[object]:
    """One run against a fresh server process (kept off this interpreter, as a real endpoint would be)."""
    images = [_image(i) for i in range(n_images + 2 * concurrency)]
    warm, images = images[n_images:], images[:n_images]
    server = subprocess.Popen([sys.executable, "-m", "tests.chat_server", "--answer", "bench.bench_vlm:answer",
                               "--latency", str(LATENCY_S)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        client = VLMClient(VLMConfig(base_url=url, model="test-vlm", concurrency=concurrency, calls_per_image=1,
                                     max_retries=0, timeout=30), progress=False)
        client.score_images_sync(warm)  # connections, imports
        start, cpu = time.perf_counter(), time.process_time()
        answers = client.score_images_sync(images)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        server.stdin.close()
        seen = json.loads(server.stdout.read().strip().splitlines()[-1])
        server.wait()
    lost = sum(a.value is None for a in answers)
    wrong = sum(a.value != i % 101 for i, a in enumerate(answers) if a.value is not None)
    extra = sum(seen["requests"].values()) - len(warm) - n_images  # requests beyond one per image
    rate, ideal = n_images / elapsed, concurrency / LATENCY_S
    ok = rate / ideal >= GOAL and not (lost or wrong or extra)
    return [concurrency, n_images, f"{elapsed:.2f} s", f"{rate:.0f}", f"{ideal:.0f}", f"{rate / ideal:.0%}",
            f"{cpu / n_images * 1e3:.1f} ms", seen["max_in_flight"], lost, extra + wrong, "met" if ok else "NOT met"]


def run(quick: bool = False) -> str:
    """Markdown section: requests/s at concurrency 8 and 32."""
    rows = [_measure(8, 160 if quick else 800), _measure(32, 320 if quick else 3200)]
    header = ["concurrency", "calls", "wall", "requests/s", "ideal (concurrency / latency)", "share of ideal",
              "client CPU per call", "most in flight at the server", "lost", "duplicated or wrong",
              f"goal >= {GOAL:.0%}"]
    return "\n".join([
        "### VLM client (`publisher/ranking/vlm.py`)",
        "",
        f"`VLMClient.score_images` against `tests/chat_server.py` run as its own process (a threaded "
        f"chat-completions server on 127.0.0.1 answering after {LATENCY_S * 1e3:.0f} ms), one call per image, "
        f"1 KB payloads, every answer checked against the image it belongs to. Load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the client's CPU per call bounds the rate "
        "when the machine is shared.",
        "",
        table(header, rows),
    ])
