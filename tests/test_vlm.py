"""The VLM client against a real chat-completions server on 127.0.0.1 (tests/chat_server.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from publisher.ranking.parse import OUT_OF_RANGE, UNPARSABLE, parse_score, parse_shares
from publisher.ranking.prompts import CATEGORIES, Prompts, PromptFileError
from publisher.ranking.vlm import VLMClient, VLMConfig, VLMError
from tests.chat_server import ChatServer, Reply

KEY = "sk-test-very-secret-0123456789"


def images(n: int) -> list[bytes]:
    """n distinct fake PNG payloads (the server never decodes them)."""
    return [b"\x89PNG\r\n\x1a\n" + bytes([i % 256, i // 256]) * 20 for i in range(n)]


def ident(image: bytes) -> int:
    return image[8] + 256 * image[9]


def client(server: ChatServer, **kw) -> VLMClient:
    kw.setdefault("max_retries", 3)
    kw.setdefault("timeout", 10.0)
    return VLMClient(VLMConfig(base_url=server.url, model=server.model, api_key=server.api_key, **kw), progress=False)


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("text, value", [
    ("85", 85.0), ("Score: 85.", 85.0), ("```\n72\n```", 72.0), ("85/100", 85.0), ("8/10", 80.0),
    ("I would rate it 64 out of 100", 64.0), ("0", 0.0), ("100", 100.0), ("42.5", 42.5),
])
def test_parse_score_reads_numbers_in_their_usual_wrappings(text, value):
    assert parse_score(text).value == value


@pytest.mark.parametrize("text, problem", [
    ("no idea", UNPARSABLE), ("", UNPARSABLE), (None, UNPARSABLE), ("80-100", UNPARSABLE),
    ("between 20 and 40", UNPARSABLE), ("150", OUT_OF_RANGE), ("-5", OUT_OF_RANGE), ("120/100", OUT_OF_RANGE),
])
def test_parse_score_drops_what_it_cannot_read_safely(text, problem):
    parsed = parse_score(text)
    assert parsed.value is None and parsed.problem == problem


def test_parse_shares_normalises_and_refuses_all_zero():
    np.testing.assert_allclose(parse_shares("[60, 20, 20, 0]").value, [0.6, 0.2, 0.2, 0.0])
    np.testing.assert_allclose(parse_shares("```json\n[1, 1, 1, 1]\n```").value, [0.25] * 4)
    np.testing.assert_allclose(parse_shares("urban: 10%, rural: 30%, mountain: 60%, highland: 0%").value,
                               [0.1, 0.3, 0.6, 0.0])
    assert parse_shares("[0, 0, 0, 0]").problem == UNPARSABLE
    assert parse_shares("[10, 20, 30]").problem == UNPARSABLE
    assert parse_shares("[10, 20, 130, 0]").problem == OUT_OF_RANGE


# --------------------------------------------------------------------------- configuration
def test_config_from_env_and_overrides_never_shows_the_key(monkeypatch):
    monkeypatch.setenv("DEVSCORE_VLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("DEVSCORE_VLM_MODEL", "env-model")
    monkeypatch.setenv("DEVSCORE_VLM_API_KEY", KEY)
    cfg = VLMConfig.from_env(model="cli-model", concurrency=None)
    assert (cfg.base_url, cfg.model, cfg.api_key, cfg.concurrency) == ("http://127.0.0.1:9/v1", "cli-model", KEY, 8)
    assert KEY not in repr(cfg) and KEY not in repr(VLMClient(cfg))
    assert cfg.endpoint_host == "127.0.0.1:9"
    monkeypatch.delenv("DEVSCORE_VLM_BASE_URL")
    with pytest.raises(VLMError, match="DEVSCORE_VLM_BASE_URL"):
        VLMConfig.from_env()


def test_prompts_from_file(tmp_path):
    path = tmp_path / "prompts.toml"
    path.write_text('score = "Rate it 0-100."\n')
    prompts = Prompts.from_file(path)
    assert prompts.score == "Rate it 0-100." and prompts.category == Prompts().category
    path.write_text('scores = "typo"\n')
    with pytest.raises(PromptFileError, match="unknown key"):
        Prompts.from_file(path)


def test_category_prompt_is_the_same_for_every_image():
    """The category prompt is the same text for every image: nothing can tell the model what to answer."""
    with ChatServer(lambda img, prompt, k: "[25, 25, 25, 25]") as server:
        client(server).category_shares_sync(images(5))
    prompts = {seen.prompt for seen in server.seen}
    assert len(prompts) == 1
    prompt = prompts.pop()
    assert all(name in prompt for name in CATEGORIES)


# --------------------------------------------------------------------------- answers
def test_three_calls_per_image_are_averaged_and_garbage_dropped():
    def answer(img, prompt, k):
        i = ident(img)
        if i == 3:
            return ["garbage", "150", "80"][k]  # two dropped answers, one usable
        return str(10 * i + 10 * k)  # 10i, 10i + 10, 10i + 20: mean 10i + 10

    with ChatServer(answer) as server:
        vlm = client(server)
        got = vlm.score_images_sync(images(5))
    assert [a.value for a in got] == [10.0, 20.0, 30.0, 80.0, 50.0]
    assert got[3].answers == [80.0] and got[3].unparsable == 2
    assert (vlm.stats.calls, vlm.stats.unparsable, vlm.stats.out_of_range) == (15, 1, 1)
    assert vlm.stats.prompt_tokens == 1500 and "tokens 1500 prompt" in vlm.stats.summary()


def test_a_body_that_is_not_a_chat_completion_is_an_unparsable_answer():
    def answer(img, prompt, k):
        return [Reply(raw=b"<html>proxy error</html>"), Reply(raw=b'{"choices": []}'), "30"][k]

    with ChatServer(answer) as server:
        vlm = client(server)
        got = vlm.score_images_sync(images(1))
    assert got[0].value == 30.0 and got[0].unparsable == 2 and vlm.stats.unparsable == 2


def test_category_shares_are_normalised_and_all_zero_left_out():
    def answer(img, prompt, k):
        return "[0, 0, 0, 0]" if ident(img) == 1 else ["[50, 50, 0, 0]", "[100, 0, 0, 0]", "[3, 1, 0, 0]"][k]

    with ChatServer(answer) as server:
        vlm = client(server)
        got = vlm.category_shares_sync(images(2))
    np.testing.assert_allclose(got[0].shares, [0.75, 0.25, 0.0, 0.0])
    assert got[1].shares is None and got[1].unparsable == 3
    assert vlm.stats.images_left_out == 1


def test_failures_are_retried_then_answered():
    """429 with Retry-After, 500s, a dropped connection and a too-slow answer are each retried by the
    openai client and end in the right score."""
    def answer(img, prompt, k):
        i = ident(img)
        if k == 0 and i == 0:
            return Reply(status=429, retry_after=0.4)
        if k < 2 and i == 1:
            return Reply(status=503)
        if k == 0 and i == 2:
            return Reply(drop=True)
        if k == 0 and i == 3:
            return Reply(text="99", delay=1.5)  # beyond the client's timeout
        return str(20 * (i + 1))

    with ChatServer(answer) as server:
        vlm = client(server, calls_per_image=1, timeout=0.7)
        got = vlm.score_images_sync(images(4))
    assert [a.value for a in got] == [20.0, 40.0, 60.0, 80.0]
    assert vlm.stats.calls == 4 and vlm.stats.retried == 5 and vlm.stats.failed == 0
    first, retry = _two_requests(server, 0)
    assert first.status == 429 and retry.start - first.end >= 0.35  # Retry-After honoured


def _two_requests(server: ChatServer, image_index: int):
    """The first two requests the server saw for image ``image_index``."""
    sha = hashlib.sha256(images(image_index + 1)[image_index]).hexdigest()
    return sorted((s for s in server.seen if s.image_sha256 == sha), key=lambda s: s.start)[:2]


def test_retry_back_off_does_not_hold_a_concurrency_slot():
    """With one slot, image 0's 429 (Retry-After 1 s) must let the other images through while it waits."""
    def answer(img, prompt, k):
        return Reply(status=429, retry_after=1.0) if ident(img) == 0 and k == 0 else "50"

    with ChatServer(answer, latency=0.02) as server:
        vlm = client(server, concurrency=1, calls_per_image=1)
        got = vlm.score_images_sync(images(6))
    assert all(a.value == 50.0 for a in got)
    assert server.max_in_flight == 1
    limited, retry = _two_requests(server, 0)
    served_meanwhile = [s for s in server.seen if limited.end <= s.start and s.end <= retry.start]
    assert len(served_meanwhile) == 5  # every other image was answered during the back-off


def test_concurrency_is_bounded_and_used():
    with ChatServer(lambda img, prompt, k: "50", latency=0.05) as server:
        client(server, concurrency=4, calls_per_image=2).score_images_sync(images(20))
    assert server.max_in_flight == 4
    assert len(server.seen) == 40


def test_an_image_whose_calls_all_fail_is_left_out_not_scored_zero():
    def answer(img, prompt, k):
        return Reply(status=500) if ident(img) == 2 else "70"

    with ChatServer(answer) as server:
        vlm = client(server, max_retries=1)
        got = vlm.score_images_sync(images(4))
    assert got[2].value is None and got[2].answers == [] and got[2].failures == 3
    assert [a.value for i, a in enumerate(got) if i != 2] == [70.0, 70.0, 70.0]
    assert vlm.stats.failed == 3 and vlm.stats.images_left_out == 1
    assert "3 failed" in vlm.stats.summary()


def test_cache_makes_a_rerun_free_and_an_interrupted_run_resume(tmp_path):
    cache = tmp_path / "cache"
    # first run: image 1's calls all fail (say the run was interrupted there); the rest is cached
    with ChatServer(lambda img, prompt, k: Reply(status=500) if ident(img) == 1 else str(ident(img))) as server:
        first = client(server, max_retries=0, cache_dir=cache).score_images_sync(images(3))
    assert first[1].value is None
    with ChatServer(lambda img, prompt, k: str(ident(img))) as server:
        vlm = client(server, cache_dir=cache)
        second = vlm.score_images_sync(images(3))
        assert [a.value for a in second] == [0.0, 1.0, 2.0]
        assert (vlm.stats.calls, vlm.stats.cached, len(server.seen)) == (3, 6, 3)  # only image 1's calls
        again = client(server, cache_dir=cache)
        again.score_images_sync(images(3))
        assert (again.stats.calls, again.stats.cached, len(server.seen)) == (0, 9, 3)
        other_model = VLMClient(VLMConfig(base_url=server.url, model="test-vlm", cache_dir=cache,
                                          prompts=Prompts(score="Another prompt 0-100.")), progress=False)
        other_model.score_images_sync(images(1))
        assert other_model.stats.calls == 3  # the prompt is part of the key


def test_structured_output_goes_through_extra_body():
    with ChatServer(lambda img, prompt, k: "42") as server:
        client(server, structured=True, calls_per_image=1).score_images_sync(images(1))
        client(server, calls_per_image=1).category_shares_sync(images(1))
    structured, plain = server.seen[0].body, server.seen[1].body
    assert structured["guided_regex"] == structured["structured_outputs"]["regex"]
    assert "100" in structured["guided_regex"]
    assert "guided_regex" not in plain


# --------------------------------------------------------------------------- unusable endpoints
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_one_error():
    vlm = VLMClient(VLMConfig(base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m", max_retries=0),
                    progress=False)
    with pytest.raises(VLMError, match="127.0.0.1.* cannot be reached: the connection was refused; "
                                       "check DEVSCORE_VLM_BASE_URL"):
        vlm.score_images_sync(images(2))


@pytest.mark.parametrize("where, setting, message", [
    ("closed", "DEVSCORE_VLM_BASE_URL", "the connection was refused"),
    ("unresolvable", "DEVSCORE_VLM_BASE_URL", "its name does not resolve"),
    ("key", "DEVSCORE_VLM_API_KEY", "refused the API key (HTTP 401)"),
    ("path", "DEVSCORE_VLM_BASE_URL", "answered 404 for /v1/wrong/models"),
    ("model", "DEVSCORE_VLM_MODEL", "does not serve model 'other'"),
])
def test_the_up_front_check_names_the_setting_to_fix(where, setting, message):
    """A wrong endpoint is one line naming the DEVSCORE_VLM_* setting, before any image is sent."""
    with ChatServer(lambda *a: "50", api_key="right") as server:
        config = {"base_url": server.url, "model": server.model, "api_key": "right"}
        config.update({"closed": {"base_url": f"http://127.0.0.1:{_closed_port()}/v1"},
                       "unresolvable": {"base_url": "http://vlm.invalid/v1"},  # RFC 2606: never resolves
                       "key": {"api_key": "wrong"}, "path": {"base_url": server.url + "/wrong"},
                       "model": {"model": "other"}}[where])
        with pytest.raises(VLMError) as err:
            VLMClient(VLMConfig(**config), progress=False).check()
        VLMClient(VLMConfig(base_url=server.url, model=server.model, api_key="right"), progress=False).check()
        assert server.seen == []  # no chat call was made
    assert message in str(err.value) and str(err.value).endswith(f"check {setting}") and "right" not in str(err.value)


def test_run_with_an_unreachable_vlm_stops_before_the_chips(tmp_path):
    env = {**os.environ, "DEVSCORE_VLM_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1", "DEVSCORE_VLM_MODEL": "m"}
    proc = subprocess.run([sys.executable, "-c", "from devscore.cli import main; main()", "run", "--tiles", "48RVU",
                           "--years", "2023", "--stac-api", f"http://127.0.0.1:{_closed_port()}", "--out",
                           str(tmp_path / "run"), "--ranker", "vlm"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("check DEVSCORE_VLM_BASE_URL")
    assert not (tmp_path / "run").exists()


def test_wrong_key_and_unknown_model_are_one_line_errors_without_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    with ChatServer(lambda img, prompt, k: "50", api_key="the-right-key") as server:
        wrong = VLMClient(VLMConfig(base_url=server.url, model=server.model, api_key=KEY), progress=False)
        with pytest.raises(VLMError, match="refused the API key") as err:
            wrong.score_images_sync(images(3))
        assert KEY not in str(err.value) and "\n" not in str(err.value)
        model = VLMClient(VLMConfig(base_url=server.url, model="no-such-model", api_key="the-right-key"),
                          progress=False)
        with pytest.raises(VLMError, match="404 for model 'no-such-model'"):
            model.score_images_sync(images(3))
    assert all(KEY not in record.getMessage() for record in caplog.records)


def test_cli_style_error_has_no_traceback(tmp_path):
    """Through devscore's error path (a throw-away command in a subprocess): one line, exit 1."""
    code = (
        "from publisher.ranking.vlm import VLMClient, VLMConfig\n"
        "import click\n"
        "from devscore.cli import COMMANDS, CommandEntry, main\n"
        "@click.command('vlmcheck')\n"
        "def vlmcheck():\n"
        f"    VLMClient(VLMConfig(base_url='http://127.0.0.1:{_closed_port()}/v1', model='m', max_retries=0),"
        " progress=False).score_images_sync([b'x'])\n"
        "COMMANDS['vlmcheck'] = CommandEntry('__main__:vlmcheck', 'check')\n"
        "import sys; sys.argv = ['devscore', 'vlmcheck']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: VLM endpoint 127.0.0.1")
    assert "Traceback" not in proc.stderr
