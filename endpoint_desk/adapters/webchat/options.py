"""The web chat selector configuration, read from ``EndpointSpec.options``.

Every key is documented on ``WebChatOptions``; discovery writes the same keys.
Selectors are CSS, matched in the document *and inside every open shadow root*
(one selector must not cross a shadow boundary: write ``textarea[aria-label=Message]``,
not ``chat-app textarea``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import EndpointSpec

DEFAULT_LOGIN_USERNAME = (
    "input[autocomplete=username], input[type=email], input[name*=user i], "
    "input[name*=login i], input[name*=email i], input[type=text]"
)


@dataclass(frozen=True, slots=True)
class WebChatOptions:
    """How to drive one chat page (``EndpointSpec.options``).

    Attributes:
        url: the chat page (default: the endpoint's ``base_url``).
        input: the message input (``textarea``, ``input`` or ``contenteditable``). Required.
        assistant: every assistant message; the newest one after sending is the reply.
            Required.
        assistant_text: inside an assistant message, the part holding the text
            (e.g. ``.content``); default: the whole message minus buttons and icons.
        ignore: extra selector of things inside a message that are not its text
            (buttons, SVG, ``aria-hidden`` and ``[data-desk-ignore]`` are always skipped).
        send: the send control; without it ``send_key`` is pressed in the input.
        send_key: key that sends when there is no ``send`` control (``Enter``).
        user_message: the user's messages (optional; helps discovery and diagnostics).
        busy: shown while the page is answering (a stop button, a typing indicator).
        busy_input: the input is disabled / read-only / not editable while answering.
        new_chat: control that starts a new conversation (else ``new_chat_url``, else
            the page is reloaded).
        new_chat_url: URL that opens a new conversation.
        login_wall: shown instead of the chat when signed out
            (default ``input[type=password]``).
        login_username: the login form's user field.
        login_password: the login form's password field.
        login_submit: the login form's submit control (else Enter in the password).
        input_mode: ``fill`` (set the text at once) or ``type`` (key by key).
        quiet_ms: after the busy signal ends, how long the text must stay unchanged.
        idle_quiet_ms: without a busy signal, the shortest quiet window that ends a reply.
        pause_factor: without a busy signal, the quiet window is at least this many times
            the longest pause seen in the reply so far.
        reply_timeout: hard limit in seconds for one reply (default: the browser
            config's ``timeout``).
        start_timeout: seconds for the page to take the message (send control enabled,
            input cleared or a reply started).
        pages: warm pages (default: ``limits.max_concurrent_requests`` when set, else
            2: ``adapter.DEFAULT_PAGES``).
        keep_conversations: continue a conversation on the page that holds it when a
            request repeats its earlier messages (session affinity).
        save_session: keep cookies and storage across restarts (``storage_state``).
        report: how the page reports reply deltas: ``push`` (a Playwright binding) or
            ``poll`` (Python reads a page-side buffer every ``poll_ms``).
        poll_ms: poll interval for ``report = "poll"``.
        alternates: other selectors learned for a key (``{"input": ["..."]}``), tried
            in order when the configured one matches nothing.
        meta: free-form data (discovery's notes, the page fingerprint); not used here.
        tool_emulation: tool calls and JSON replies by asking in the prompt (the reply is
            read back as a tool call when it is one, else as text); without it requests
            with tools or a JSON format are not sent to this page.
        file_input: the page's file input (``input[type=file]``); images in a request
            are attached through it (the ``vision`` capability is on only with it).
        allowed_origins: other origins (``https://sso.example.com``) the page may take
            the browser to; the page's own origins (``url``, ``new_chat_url``, the
            endpoint's ``base_url`` and ``login_url``) always may, ``"*"`` allows any.
    """

    input: str
    assistant: str
    url: str = ""
    assistant_text: str | None = None
    ignore: str | None = None
    send: str | None = None
    send_key: str = "Enter"
    user_message: str | None = None
    busy: str | None = None
    busy_input: bool = False
    new_chat: str | None = None
    new_chat_url: str | None = None
    login_wall: str | None = "input[type=password]"
    login_username: str = DEFAULT_LOGIN_USERNAME
    login_password: str = "input[type=password]"
    login_submit: str | None = "button[type=submit], input[type=submit]"
    input_mode: str = "fill"
    quiet_ms: int = 60
    idle_quiet_ms: int = 1500
    pause_factor: float = 2.0
    reply_timeout: float | None = None
    start_timeout: float = 10.0
    pages: int | None = None
    keep_conversations: bool = True
    save_session: bool = True
    report: str = "push"
    poll_ms: int = 20
    alternates: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    allowed_origins: list[str] = field(default_factory=list)
    tool_emulation: bool = False
    file_input: str | None = None

    @classmethod
    def unconfigured(cls, url: str) -> WebChatOptions:
        """Options for a page whose chat selectors are not known yet (discovery, before
        a canary proves some): the page's URL and the defaults (the login form's).
        Good for loading the page and signing in, not for an exchange."""
        return cls(input="", assistant="", url=url)

    @classmethod
    def from_spec(cls, spec: EndpointSpec) -> WebChatOptions:
        """Validate ``spec.options``.

        Raises:
            ConfigError: a missing required key, an unknown key, or a wrong type.
        """
        return cls.from_dict(spec.options, default_url=spec.base_url, endpoint=spec.name)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, default_url: str = "", endpoint: str = "web chat"
    ) -> WebChatOptions:
        """Validate a selector configuration (see the class docstring for the keys)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"{endpoint}: unknown web chat option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(fields))}"
            )
        missing = [k for k in ("input", "assistant") if not data.get(k)]
        if missing:
            raise ConfigError(
                f"{endpoint}: the web chat needs the selector option(s) {', '.join(missing)} "
                "(run discovery with `desk add URL`, or set them by hand)"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _check(endpoint, key, value, fields[key].type)
        values.setdefault("url", default_url)
        if not values["url"]:
            raise ConfigError(f"{endpoint}: the web chat needs a page url")
        if values.get("input_mode", "fill") not in ("fill", "type"):
            raise ConfigError(f"{endpoint}: input_mode must be 'fill' or 'type'")
        if values.get("report", "push") not in ("push", "poll"):
            raise ConfigError(f"{endpoint}: report must be 'push' or 'poll'")
        return cls(**values)

    def page_config(self) -> dict[str, Any]:
        """The subset the in-page script reads (``deskChat.arm(cfg)`` and friends)."""
        return {
            "input": self.input,
            "assistant": self.assistant,
            "assistant_text": self.assistant_text,
            "ignore": self.ignore,
            "busy": self.busy,
            "busy_input": self.busy_input,
            "login_wall": self.login_wall,
            "report": self.report,
        }

    @property
    def has_busy_signal(self) -> bool:
        return bool(self.busy or self.busy_input)

    def with_selector(self, key: str, selector: str) -> WebChatOptions:
        """A copy with ``key`` replaced (runtime repair from ``alternates``)."""
        changes: dict[str, Any] = {key: selector}
        return dataclasses.replace(self, **changes)


_STR_KEYS_OPTIONAL = "str | None"


def _check(endpoint: str, key: str, value: Any, typ: Any) -> Any:
    t = str(typ)
    where = f"{endpoint}: option {key!r}"
    if t in ("str", _STR_KEYS_OPTIONAL):
        if value is None and t == _STR_KEYS_OPTIONAL:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where} must be a non-empty string")
        return value.strip()
    if t == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if t in ("int", "int | None", "float", "float | None"):
        if value is None and "None" in t:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where} must be a non-negative number")
        if t.startswith("int"):
            if int(value) != value:
                raise ConfigError(f"{where} must be a whole number")
            if key == "pages" and value < 1:
                raise ConfigError(f"{where} must be at least 1")
            return int(value)
        return float(value)
    if key == "alternates":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
            for k, v in value.items()
        ):
            raise ConfigError(f"{where} must map option names to lists of selectors")
        return {k: list(v) for k, v in value.items()}
    if key == "meta":
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table")
        return dict(value)
    if key == "allowed_origins":
        if not isinstance(value, list) or not all(isinstance(o, str) and o for o in value):
            raise ConfigError(f"{where} must be a list of origins (https://host[:port])")
        return list(value)
    return value
