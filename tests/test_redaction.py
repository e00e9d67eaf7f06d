"""The one redactor: URLs cut to scheme + host, tokens and named secrets blanked, upstream errors summarised."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from handoff.redaction import install_log_redaction, redact, redact_url, register_secrets, summarise_error
from handoff.settings import AlertSettings, LlmSettings, Settings


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("POST https://hooks.slack.com/services/T1/B2/abcdef: HTTP 404", "https://hooks.slack.com", "T1/B2/abcdef"),
        ("Incorrect API key provided: Bearer sk-proj-abcdefgh1234", "Bearer ***", "sk-proj-abcdefgh1234"),
        ('{"authorization": "Bearer abcdef123456"}', '"authorization": "Bearer ***', "abcdef123456"),
        ("x-api-key: hk_AbCdEf0123456789", "x-api-key: ***", "hk_AbCdEf0123456789"),
        ("Authorization: Basic dXNlcjpodW50ZXIyaHVudGVy", "Authorization: Basic ***", "dXNlcjpodW50ZXIyaHVudGVy"),
        ("postgresql://app:hunter2hunter2@db:5432/handoff", "postgresql://db:5432", "hunter2hunter2"),
        ("oapi.dingtalk.com/robot/send?access_token=0123456789ab", "access_token=***", "0123456789ab"),
        ("errmsg: invalid webhook url, key=0123456789abcdef", "key=***", "0123456789abcdef"),
    ],
)
def test_redact_keeps_where_and_blanks_what(text: str, kept: str, gone: str) -> None:
    cleaned = redact(text)
    assert kept in cleaned and gone not in cleaned


def test_plain_text_and_short_words_are_left_alone() -> None:
    text = "Send the revised SOW by Friday; the token budget is 40 hours, basic support included."
    assert redact(text) == text
    assert redact_url("https://user:pw@example.com:8443/a/b?c=d") == "https://example.com:8443"


def test_configured_secrets_are_blanked_whatever_their_shape(caplog) -> None:
    settings = Settings(
        _env_file=None,
        llm=LlmSettings(api_key=SecretStr("plainlongsecretvalue")),
        alerts=AlertSettings(wecom_webhook_url=SecretStr("https://qyapi.weixin.qq.com/send?key=wecomkey12345")),
    )
    assert "not-needed" not in Settings(_env_file=None).secret_values()  # a placeholder is no secret
    register_secrets(settings.secret_values())
    install_log_redaction()
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("sent %s with %s", "key wecomkey12345", "plainlongsecretvalue")
    assert "wecomkey12345" not in caplog.text and "plainlongsecretvalue" not in caplog.text
    try:
        raise RuntimeError("upstream said: Bearer plainlongsecretvalue")
    except RuntimeError:
        logging.getLogger("some.library").exception("failed")
    assert "plainlongsecretvalue" not in caplog.text and "RuntimeError" in caplog.text


def test_an_http_error_is_summarised_by_status_and_reason_never_its_body() -> None:
    request = httpx.Request("POST", "https://llm.example/v1/chat/completions")
    response = httpx.Response(401, request=request, json={"error": "bad key Bearer sk-abcdefgh12345678"})
    error = httpx.HTTPStatusError("401 for Bearer sk-abcdefgh12345678", request=request, response=response)
    assert summarise_error(error) == "HTTPStatusError: HTTP 401 Unauthorized"
    assert summarise_error(TimeoutError("no answer in 20 s")) == "TimeoutError: no answer in 20 s"
    assert "sk-" not in summarise_error(ValueError("echo sk-abcdefgh12345678"))
