"""A client for vision-language models behind any OpenAI-compatible chat API (vLLM, Ollama, hosted).

Each image gets ``calls_per_image`` calls (averaged). Concurrency is bounded per HTTP request: the
semaphore sits in the HTTP transport, so the openai client's own retries (408, 429 honouring
Retry-After, 5xx, timeouts, dropped connections) sleep between requests without holding a slot.
A call that still fails, or whose answer is unparsable or out of range, is counted and dropped; an
image with no usable answer is reported and left out, never scored 0.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import numpy as np
import openai
from publisher.progress import tqdm

from publisher.errors import DevscoreError
from publisher.ranking.cache import AnswerCache, cache_key
from publisher.ranking.parse import OUT_OF_RANGE, Parsed, parse_score, parse_shares
from publisher.ranking.prompts import Prompts

try:  # the openai client sends through httpx2 from 2.x on, through httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx

log = logging.getLogger(__name__)
if logging.getLogger(httpx.__name__).level == logging.NOTSET:  # one INFO line per HTTP request drowns the summary
    logging.getLogger(httpx.__name__).setLevel(logging.WARNING)

#: vLLM guided-decoding patterns for ``structured=True``.
SCORE_REGEX = r"(100|[1-9]?[0-9])"
SHARES_REGEX = r"\[" + ", ".join([SCORE_REGEX] * 4) + r"\]"
#: At most this many calls per HTTP slot are prepared at once (each holds a base64 image in memory).
PENDING_PER_SLOT = 4
#: The settings a user fixes when the endpoint is wrong (`devscore rank` also takes them as options).
ENV_BASE_URL, ENV_MODEL, ENV_API_KEY = "DEVSCORE_VLM_BASE_URL", "DEVSCORE_VLM_MODEL", "DEVSCORE_VLM_API_KEY"
#: The up-front check of an endpoint: seconds per attempt, and attempts when the connection is refused
#: (a server that is restarting), so a wrong endpoint stops a run in seconds, not after every retry.
CHECK_TIMEOUT_S = 10.0
CHECK_ATTEMPTS = 3


class VLMError(DevscoreError):
    """The VLM endpoint cannot be used: misconfigured, unreachable, refusing the key or the model."""


@dataclass(frozen=True)
class VLMConfig:
    """Where and how to call the VLM. The API key never appears in the repr, logs or output."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 8
    calls_per_image: int = 3
    max_retries: int = 5
    timeout: float = 120.0
    structured: bool = False
    temperature: float | None = None
    max_tokens: int = 64
    cache_dir: Path | None = None
    prompts: Prompts = field(default_factory=Prompts, repr=False)

    def __post_init__(self) -> None:
        if not self.base_url:
            raise VLMError(f"no VLM endpoint: set {ENV_BASE_URL}")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise VLMError(f"VLM endpoint {self.endpoint_host!r} is not an http(s) URL")
        if not self.model:
            raise VLMError(f"no VLM model: set {ENV_MODEL}")
        for name in ("concurrency", "calls_per_image"):
            if getattr(self, name) < 1:
                raise VLMError(f"VLM {name} must be at least 1, got {getattr(self, name)}")
        if self.max_retries < 0 or self.timeout <= 0:
            raise VLMError("VLM max_retries must be >= 0 and timeout > 0")

    @classmethod
    def from_env(cls, **overrides) -> "VLMConfig":
        """Options given (not None) win over ``DEVSCORE_VLM_BASE_URL``, ``DEVSCORE_VLM_MODEL`` and
        ``DEVSCORE_VLM_API_KEY``; ``prompts_file`` reads the prompts from a TOML file."""
        values = {k: v for k, v in overrides.items() if v is not None}
        prompts_file = values.pop("prompts_file", None)
        if prompts_file is not None:
            values["prompts"] = Prompts.from_file(prompts_file)
        if "cache_dir" in values:
            values["cache_dir"] = Path(values["cache_dir"])
        for name in ("base_url", "model", "api_key"):
            values.setdefault(name, os.environ.get(f"DEVSCORE_VLM_{name.upper()}") or None)
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown VLMConfig option(s): {', '.join(unknown)}")
        return cls(**values)

    @property
    def endpoint_host(self) -> str:
        """The endpoint's host[:port], without user info or path: safe to log and to keep in provenance."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or self.base_url
        return f"{host}:{parts.port}" if parts.port else host


@dataclass
class CallStats:
    """What the calls cost and how they went (accumulates over a client's runs)."""

    calls: int = 0  # calls sent to the endpoint (a call may take several HTTP requests)
    cached: int = 0  # calls answered from the on-disk cache
    requests: int = 0  # HTTP requests, retries included
    failed: int = 0  # calls that failed after every retry
    unparsable: int = 0
    out_of_range: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images_left_out: int = 0  # images with no usable answer at all

    @property
    def retried(self) -> int:
        """HTTP requests beyond the first of each call."""
        return max(self.requests - self.calls, 0)

    def summary(self) -> str:
        """One line for the log and the CLI."""
        line = (f"VLM calls: {self.calls} made, {self.cached} cached, {self.retried} retried, {self.failed} failed, "
                f"{self.unparsable} unparsable, {self.out_of_range} out of range")
        if self.prompt_tokens or self.completion_tokens:
            line += f"; tokens {self.prompt_tokens} prompt + {self.completion_tokens} completion"
        if self.images_left_out:
            line += f"; {self.images_left_out} image(s) without a usable answer left out"
        return line


@dataclass(frozen=True)
class ImageAnswer:
    """A development score for one image: ``value`` the mean 0-100 score of the usable answers, or None
    when every call failed or was unparsable (the image is then left out, never scored 0)."""

    value: float | None
    answers: list[float]
    failures: int  # calls that failed after every retry
    unparsable: int  # answers dropped as unparsable or out of range


@dataclass(frozen=True)
class CategoryAnswer:
    """Category shares (urban, rural, mountain, highland; sum 1) for one image, or None."""

    shares: np.ndarray | None
    answers: list[np.ndarray]
    failures: int
    unparsable: int


class _SlotTransport(httpx.AsyncBaseTransport):
    """Wraps the HTTP transport so each request holds one of ``concurrency`` slots only while it is on
    the wire (its body read in full), never while the openai client sleeps before a retry."""

    def __init__(self, inner: httpx.AsyncBaseTransport, slots: asyncio.Semaphore, stats: CallStats) -> None:
        self.inner, self.slots, self.stats = inner, slots, stats

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.slots:
            self.stats.requests += 1
            response = await self.inner.handle_async_request(request)
            try:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        return httpx.Response(response.status_code, headers=response.headers, content=raw,
                              extensions={k: v for k, v in response.extensions.items() if k != "network_stream"})

    async def aclose(self) -> None:
        await self.inner.aclose()


class VLMClient:
    """Scores and category shares of images from an OpenAI-compatible chat endpoint."""

    def __init__(self, config: VLMConfig, progress: bool = True) -> None:
        self.config = config
        self.stats = CallStats()
        self.progress = progress
        self.cache = AnswerCache(config.cache_dir) if config.cache_dir else None

    def __repr__(self) -> str:
        return f"VLMClient({self.config!r})"

    # ------------------------------------------------------------------ public API
    async def score_images(self, images: list[bytes]) -> list[ImageAnswer]:
        """A 0-100 development score per image (PNG bytes), the mean of ``calls_per_image`` answers."""
        parsed = await self._ask(images, self.config.prompts.score, SCORE_REGEX, parse_score, "scores")
        return [ImageAnswer(float(np.mean(ok)) if ok else None, ok, fails, bad) for ok, fails, bad in parsed]

    async def category_shares(self, images: list[bytes]) -> list[CategoryAnswer]:
        """Shares of urban, rural, mountain, highland per image, each answer normalised, then averaged."""
        parsed = await self._ask(images, self.config.prompts.category, SHARES_REGEX, parse_shares, "categories")
        return [CategoryAnswer(np.mean(ok, axis=0) if ok else None, ok, fails, bad) for ok, fails, bad in parsed]

    def score_images_sync(self, images: list[bytes]) -> list[ImageAnswer]:
        """:meth:`score_images` for callers without an event loop."""
        return asyncio.run(self.score_images(images))

    def category_shares_sync(self, images: list[bytes]) -> list[CategoryAnswer]:
        """:meth:`category_shares` for callers without an event loop."""
        return asyncio.run(self.category_shares(images))

    # ------------------------------------------------------------------ machinery
    async def _ask(self, images: list[bytes], prompt: str, regex: str, parse: Callable[[str | None], Parsed],
                   what: str) -> list[tuple[list, int, int]]:
        """Every call for every image; returns per image (usable values, failed calls, dropped answers)."""
        cfg = self.config
        shas = [hashlib.sha256(image).hexdigest() for image in images]
        calls = [(i, c) for i in range(len(images)) for c in range(cfg.calls_per_image)]
        texts: dict[tuple[int, int], str | None] = {}  # the answer text; None: the call failed
        for i, c in calls:
            record = self.cache.get(cache_key(shas[i], prompt, cfg.model, c)) if self.cache else None
            if record is not None:
                texts[(i, c)] = record["text"]
                self.stats.cached += 1
        todo = [call for call in calls if call not in texts]
        if todo:
            log.info("VLM %s: %d images, %d calls to %s (model %s, concurrency %d), %d answers cached",
                     what, len(images), len(todo), cfg.endpoint_host, cfg.model, cfg.concurrency,
                     len(calls) - len(todo))
            await self._call_all(images, shas, todo, prompt, regex, texts, what)
        results = [self._collect(i, shas[i], [texts[(i, c)] for c in range(cfg.calls_per_image)], parse)
                   for i in range(len(images))]
        log.info(self.stats.summary())
        return results

    def _collect(self, i: int, sha: str, texts: list[str | None], parse: Callable[[str | None], Parsed]
                 ) -> tuple[list, int, int]:
        """Parse one image's answers: (usable values, failed calls, dropped answers), counted in stats."""
        ok, failures, dropped = [], 0, 0
        for text in texts:
            if text is None:
                failures += 1
                continue
            got = parse(text)
            if got.value is not None:
                ok.append(got.value)
                continue
            dropped += 1
            if got.problem == OUT_OF_RANGE:
                self.stats.out_of_range += 1
            else:
                self.stats.unparsable += 1
        if not ok:
            self.stats.images_left_out += 1
            log.warning("image %d (sha256 %s...): no usable answer (%d calls failed, %d answers dropped), left out",
                        i, sha[:12], failures, dropped)
        return ok, failures, dropped

    async def _call_all(self, images: list[bytes], shas: list[str], todo: list[tuple[int, int]], prompt: str,
                        regex: str, texts: dict[tuple[int, int], str | None], what: str) -> None:
        """Make the calls in ``todo`` (at most ``concurrency`` on the wire at once), filling ``texts``."""
        cfg = self.config
        slots = asyncio.Semaphore(cfg.concurrency)
        pending = asyncio.Semaphore(cfg.concurrency * PENDING_PER_SLOT)
        transport = _SlotTransport(
            httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=cfg.concurrency,
                                                         max_keepalive_connections=cfg.concurrency)),
            slots, self.stats)
        errors: list[str] = []
        async with openai.AsyncOpenAI(
            base_url=cfg.base_url, api_key=cfg.api_key or "EMPTY", max_retries=cfg.max_retries, timeout=cfg.timeout,
            http_client=openai.DefaultAsyncHttpxClient(transport=transport, timeout=cfg.timeout),
        ) as client:
            with tqdm(total=len(todo), desc=f"VLM {what}", unit="call", disable=not self.progress) as bar:

                async def one(i: int, c: int) -> None:
                    async with pending:
                        try:
                            text, usage = await self._call(client, images[i], prompt, regex)
                        except openai.APIError as exc:  # what the client's retries could not fix
                            texts[(i, c)] = None
                            self.stats.failed += 1
                            errors.append(_describe(exc))
                            log.debug("call %d of image %d failed: %s", c, i, errors[-1])
                            return
                        finally:
                            bar.update(1)
                    texts[(i, c)] = text
                    self.stats.prompt_tokens += usage.get("prompt_tokens") or 0
                    self.stats.completion_tokens += usage.get("completion_tokens") or 0
                    if self.cache:
                        self.cache.put(cache_key(shas[i], prompt, cfg.model, c),
                                       {"text": text, "model": cfg.model, **usage})

                await _all_or_first_error([one(i, c) for i, c in todo])
        if errors and len(errors) == len(todo):
            raise VLMError(f"no answer from {cfg.endpoint_host}: all {len(todo)} calls failed ({errors[-1]})")

    async def _call(self, client: openai.AsyncOpenAI, image: bytes, prompt: str, regex: str) -> tuple[str, dict]:
        """One chat call (the client retries it): the answer text and the usage counts."""
        cfg = self.config
        mime = "image/jpeg" if image[:2] == b"\xff\xd8" else "image/png"
        url = f"data:{mime};base64,{base64.b64encode(image).decode()}"
        body: dict = {"model": cfg.model, "max_tokens": cfg.max_tokens, "messages": [
            {"role": "user", "content": [{"type": "text", "text": prompt},
                                         {"type": "image_url", "image_url": {"url": url}}]}]}
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.structured:  # vLLM guided decoding, older and newer spelling
            body.update(guided_regex=regex, structured_outputs={"regex": regex})
        self.stats.calls += 1
        try:
            # the client's generic post: its retries, timeouts and errors, without the typed-parameter
            # transform of chat.completions.create (a few ms of CPU per call)
            response = await client.post("/chat/completions", body=body, cast_to=httpx.Response)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise VLMError(f"{cfg.endpoint_host} refused the API key (HTTP {exc.status_code}): "
                           "check DEVSCORE_VLM_API_KEY") from None
        except openai.NotFoundError:
            raise VLMError(f"{cfg.endpoint_host} answered 404 for model {cfg.model!r}: unknown model "
                           f"or wrong base URL (it usually ends in /v1): check {ENV_MODEL} and {ENV_BASE_URL}") from None
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, httpx.ConnectError):  # refused or unresolvable: retrying will not help
                raise VLMError(_unreachable(cfg, exc.__cause__)) from None
            raise
        return _content(_json(response))

    def check(self) -> None:
        """Ask the endpoint for its model list before any work: a refused connection, a name that does not
        resolve, a refused key, a 404 (wrong base URL) or a model the server does not serve is a
        :class:`VLMError` naming the setting to fix, within seconds. Timeouts, 429 and 5xx are let through
        (the calls retry those)."""
        import time

        cfg = self.config
        headers = {"Authorization": f"Bearer {cfg.api_key or 'EMPTY'}"}
        url = cfg.base_url.rstrip("/") + "/models"
        for attempt in range(CHECK_ATTEMPTS):
            try:
                with httpx.Client(timeout=CHECK_TIMEOUT_S) as client:
                    response = client.get(url, headers=headers)
                break
            except httpx.ConnectError as exc:
                if attempt == CHECK_ATTEMPTS - 1:
                    raise VLMError(_unreachable(cfg, exc)) from None
                time.sleep(2 ** attempt)
            except httpx.HTTPError as exc:  # a timeout or a dropped connection: transient, the calls retry
                log.warning("VLM endpoint %s did not answer the model list (%s); going on", cfg.endpoint_host,
                            type(exc).__name__)
                return
        status = response.status_code
        if status in (401, 403):
            raise VLMError(f"{cfg.endpoint_host} refused the API key (HTTP {status}): check {ENV_API_KEY}")
        if status == 404:
            raise VLMError(f"{cfg.endpoint_host} answered 404 for {urlsplit(url).path}: wrong base URL "
                           f"(it usually ends in /v1): check {ENV_BASE_URL}")
        if status != 200:
            log.warning("VLM endpoint %s answered HTTP %d to the model list; going on", cfg.endpoint_host, status)
            return
        body = _json(response)
        served = [m.get("id") for m in body.get("data", []) if isinstance(m, dict)] if isinstance(body, dict) else []
        if served and cfg.model not in served:
            raise VLMError(f"{cfg.endpoint_host} does not serve model {cfg.model!r} (it serves "
                           f"{', '.join(map(str, served[:5]))}): check {ENV_MODEL}")


async def _all_or_first_error(coroutines: list) -> None:
    """Run the coroutines as tasks; the first exception cancels the others and is raised."""
    tasks = [asyncio.create_task(coro) for coro in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _json(response: httpx.Response) -> object:
    """The decoded body, or None for one that is not JSON (counted as unparsable, not as a crash)."""
    try:
        return response.json()
    except ValueError:
        return None


def _content(reply: object) -> tuple[str, dict]:
    """The assistant text and the usage counts of a chat-completions answer ("" for a malformed one, which
    then parses as unparsable)."""
    try:
        text = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        text = None
    usage = reply.get("usage") if isinstance(reply, dict) else None
    return (text if isinstance(text, str) else ""), (usage if isinstance(usage, dict) else {})


def _unreachable(cfg: VLMConfig, exc: Exception) -> str:
    """One line for an endpoint that refuses connections or whose name does not resolve."""
    chain, cause = [], exc
    while cause is not None and len(chain) < 10:  # httpx wraps the socket error (under anyio's, when async)
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, socket.gaierror) for c in chain):
        reason = "its name does not resolve"
    elif any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in str(exc).lower():
        reason = "the connection was refused"
    else:
        reason = f"cannot connect ({exc})"
    return f"VLM endpoint {cfg.endpoint_host} cannot be reached: {reason}; check {ENV_BASE_URL}"


def _describe(exc: openai.APIError) -> str:
    """A short reason for a failed call, without request bodies or headers."""
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection failed ({type(cause).__name__}: {cause})" if cause else "connection failed"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__
