"""TLS trust for upstream connections: which CAs to believe, and whether to check.

Precedence: an endpoint's ``ca_file``, else ``[http] ca_file``, else OpenSSL's
defaults (which honour ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``), else the system's
store. A CA file replaces the default store (as ``curl --cacert`` does): a bundle
holds every CA it should trust. Certificates and host names are always checked,
unless one endpoint says ``verify_tls = false``.

Contexts are built once per distinct setting and shared by both HTTP stacks (the
connection pools key on them, so one context per setting keeps pooling effective).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from endpoint_desk.core.errors import ConfigError

_CONTEXTS: dict[tuple[str | None, bool, str | None, str | None], ssl.SSLContext] = {}


def ssl_context(ca_file: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """The client context for a CA bundle (None: the defaults) and verification.

    Raises:
        ConfigError: the CA file cannot be read or holds no certificate.
    """
    if ca_file is not None:
        ca_file = str(Path(ca_file).expanduser())
    env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    key = (ca_file, verify, *env)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _CONTEXTS[key] = _build(ca_file, verify)
    return ctx


def _build(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError as exc:
        raise ConfigError(f"CA file {ca_file} does not exist") from exc
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CA file {ca_file} cannot be used as a CA bundle ({exc})") from exc
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
