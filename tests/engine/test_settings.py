"""Changing settings by key (the engine call behind ``desk set``, ``PATCH`` and the
TUI's form): keys, aliases, values as text or JSON, all or nothing, secrets."""

from __future__ import annotations

from typing import Any

import pytest

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import EndpointKind, EndpointSpec
from endpoint_desk.engine.settings import plan_settings
from endpoint_desk.engine.spec_view import masked_spec, setting_lines

from .conftest import Rig, spec

SECRET = "sk-settings-secret-0123456789"


def base() -> EndpointSpec:
    return EndpointSpec(
        name="e",
        kind=EndpointKind.OPENAI,
        base_url="http://127.0.0.1:9/v1",
        models=["m1", "m2"],
        model_mapping={"gpt-4": "m2"},
    )


def plan(*pairs: tuple[str, Any], text: bool = True) -> EndpointSpec:
    new, _ = plan_settings(base(), pairs, text=text)
    return new


def test_keys_aliases_and_dotted_entries() -> None:
    new = plan(
        ("timeout", "10"),
        ("rpm", "100"),
        ("concurrency", "8"),
        ("queue", "2.5"),
        ("retry_attempts", "1"),
        ("limits.health_check_interval", "60"),
        ("budget", "1.5"),
        ("model_mapping.gpt-4.1", "m1"),
        ("input_price", "0.5"),
        ("weight", "2"),
        ("tier", "1"),
        ("cache", "true"),
        ("options.reply_timeout", "90"),
        ("headers.X-Title", "my app"),
    )
    limits = new.limits
    assert (limits.timeout_seconds, limits.max_requests_per_minute) == (10.0, 100)
    assert (limits.max_concurrent_requests, limits.queue_seconds) == (8, 2.5)
    assert (limits.retry_attempts, limits.health_check_interval) == (1, 60.0)
    assert limits.daily_budget == 1.5
    assert new.model_mapping == {"gpt-4": "m2", "gpt-4.1": "m1"}  # a name with a dot
    assert new.prices is not None and new.prices.input_per_mtok == 0.5
    assert (new.weight, new.tier, new.cache) == (2.0, 1, True)
    assert new.options == {"reply_timeout": 90} and new.headers == {"X-Title": "my app"}


def test_text_values_read_as_json_lists_and_tables() -> None:
    new = plan(
        ("models", "a, b ,c"),
        ("model_map", "x=a, y=b"),
        ("options", '{"template": {"url": "/x"}, "n": [1, 2]}'),
        ("default_model", "123"),  # text for a text field, even when it looks like JSON
        ("note", '"quoted"'),
    )
    assert new.models == ["a", "b", "c"] and new.model_mapping == {"x": "a", "y": "b"}
    assert new.options == {"template": {"url": "/x"}, "n": [1, 2]}
    assert new.default_model == "123" and new.note == "quoted"


def test_empty_unsets_removes_or_empties() -> None:
    limited = base().model_copy(
        update={"limits": base().limits.model_copy(update={"max_requests_per_minute": 5})}
    )
    new, _ = plan_settings(
        limited,
        [("rpm", ""), ("model_mapping.gpt-4", ""), ("models", ""), ("budget", "null")],
        text=True,
    )
    assert new.limits.max_requests_per_minute is None
    assert new.model_mapping == {} and new.models == [] and new.limits.daily_budget is None
    with pytest.raises(ConfigError, match=r"timeout .*cannot be unset"):
        plan(("timeout", ""))


def test_json_values_and_merged_tables() -> None:
    new = plan(("limits", {"timeout_seconds": 12}), ("selectors", {"input": "#i"}), text=False)
    assert new.limits.timeout_seconds == 12 and new.limits.retry_attempts == 3  # merged
    assert new.options == {"input": "#i"}
    new = plan(("timeout_seconds", 7), ("default_model", None), text=False)
    assert new.limits.timeout_seconds == 7 and new.default_model is None


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        ((("rpm", "0"),), "bad value for rpm (limits.max_requests_per_minute): must be at least 1"),
        ((("timeout", "soon"),), "timeout (limits.timeout_seconds): must be a number"),
        ((("tier", "1.5"),), "bad value for tier: must be a whole number"),
        ((("timout", "3"),), "unknown setting 'timout'; did you mean timeout?"),
        ((("limits.nope", "3"),), "unknown setting 'limits.nope'"),
        ((("weight.x", "3"),), "weight has no part 'x'"),
        ((("enabled", "false"),), "desk start"),
        ((("name", "other"),), "cannot be renamed"),
        ((("options.x", "{bad"),), "looks like JSON but is not valid JSON"),
        ((("timeout", "1e999"),), "must be a finite number"),
        ((("weight", "inf"),), "must be a finite number"),
        ((("health_probe", "deep"),), "must be 'cheap' or 'chat', got 'deep'"),
        ((("base_url", "ftp://x"),), "bad value for base_url"),
        ((("model_mapping", "nonsense"),), "ASKED=UPSTREAM"),
        ((("rpm", "5"), ("tier", "-1")), "bad value for tier"),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_it(
    pairs: tuple[tuple[str, str], ...], words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        plan(*pairs)
    line = info.value.one_line()
    assert words in line and "\n" not in line


def test_secret_values_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        plan(("api_key", ["not", SECRET]), text=False)
    assert SECRET not in info.value.one_line()
    with pytest.raises(ConfigError) as info:
        plan(("headers.Authorization", 5), text=False)
    assert "headers" in info.value.one_line()


def test_show_masks_secrets_but_shows_references() -> None:
    spec = base().model_copy(
        update={
            "api_key": "env:OPENAI_API_KEY",
            "headers": {"X-Api-Token": SECRET, "X-Title": "my app"},
            "base_url": "https://user:hunter2-password@example.com/v1",
        }
    )
    shown = dict(setting_lines(spec))
    assert shown["api_key"] == "env:OPENAI_API_KEY"
    assert SECRET not in str(masked_spec(spec)) and "hunter2" not in str(masked_spec(spec))
    assert shown["headers.X-Title"] == "my app"
    assert shown["limits.max_requests_per_minute"] == "(not set: no limit)"
    assert shown["model_mapping.gpt-4"] == "m2"


async def test_configure_is_all_or_nothing_and_stores_secrets(rig: Rig) -> None:
    desk = rig.desk
    await desk.add(spec("s0", rig.sims[0].url), prove=False)
    before = (await desk.store.get_endpoint("s0")).spec
    with pytest.raises(ConfigError, match="tier"):
        await desk.configure("s0", {"timeout": "9", "api_key": SECRET, "tier": "-1"}, text=True)
    assert (await desk.store.get_endpoint("s0")).spec == before
    assert desk.endpoint("s0").spec == before
    assert not desk.secrets.paths.secrets_file.exists() or SECRET not in (
        desk.secrets.paths.secrets_file.read_text()
    )

    done = await desk.configure("s0", {"timeout": "9", "api_key": SECRET}, text=True)
    stored = (await desk.store.get_endpoint("s0")).spec
    assert stored.limits.timeout_seconds == 9
    assert stored.api_key is not None and desk.secrets.is_ref(stored.api_key)
    assert desk.secrets.resolve(stored.api_key) == SECRET
    assert SECRET not in repr(done.changes)
    assert ("limits.timeout_seconds", "5.0", "9.0") in done.changes
    # the same key again: nothing changes but the stored value, and it says so
    again = await desk.configure("s0", {"api_key": SECRET + "x"}, text=True)
    assert [k for k, _, _ in again.changes] == ["api_key"]
    assert "new value stored" in again.changes[0][2]
    assert desk.secrets.resolve(stored.api_key) == SECRET + "x"
    # the engine serves with the new settings at once
    assert (await desk.chat(rig_ask(), endpoint="s0")).endpoint == "s0"


def rig_ask() -> Any:
    from endpoint_desk.core.models import ChatRequest

    return ChatRequest.from_text("hi", model="sim-model")


@pytest.fixture
async def rig(rig_factory: Any) -> Rig:
    made: Rig = await rig_factory(1)
    return made
