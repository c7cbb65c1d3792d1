"""``[http]`` made ready to serve: secrets read, webhook sections matched to trackers.

Everything that can be wrong with the section is found here, at start-up, before
the store is opened or a port is bound: a secret that is not set, a webhook for a
tracker that does not exist or whose adapter cannot receive webhooks. Each error
names the file and the key, like the rest of the configuration (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ..config import Config, HttpSection
from ..errors import ConfigError
from ..secrets import SecretRef
from .webhooks import VENDORS, Vendor

# Ready means a complete pass this recently, by default three poll intervals: one
# slow or failed pass is not an outage, three in a row are.
READY_POLLS = 3


@dataclass(frozen=True)
class WebhookSettings:
    tracker: str
    vendor: Vendor
    secret: str | None  # None: unsigned deliveries accepted (insecure_unsigned = true)


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int
    max_body_bytes: int = 1_048_576
    ready_within: dict[str, timedelta] = field(default_factory=dict)
    token: str | None = None
    refresh_seconds: int = 60
    queue_size: int = 1000
    threads: int = 4
    webhooks: dict[str, WebhookSettings] = field(default_factory=dict)


def _reveal(ref: SecretRef, config: Config, key: str) -> str:
    # The file model is validated without the configuration's folder: a relative file is
    # relative to the configuration file, as every other secret is.
    if ref.file is not None and not ref.file.is_absolute():
        ref = SecretRef.model_validate({"file": ref.file}, context={"base": config.path.parent})
    try:
        return ref.reveal()
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: {key}: {exc}") from None


def http_settings(config: Config) -> HttpSettings | None:
    """The HTTP face's settings, or None when ``[http] enabled`` is false."""
    section: HttpSection = config.file.http
    if not section.enabled:
        return None
    trackers = config.file.trackers
    webhooks: dict[str, WebhookSettings] = {}
    for name, hook in section.webhooks.items():
        where = f"http.webhooks.{name}"
        if name not in trackers:
            raise ConfigError(f"{config.path}: {where}: no tracker named {name!r}; configured:"
                              f" {', '.join(trackers) or 'none'}")
        vendor = VENDORS.get(trackers[name].adapter)
        if vendor is None:
            raise ConfigError(f"{config.path}: {where}: the {trackers[name].adapter!r} adapter has no webhooks"
                              f" sla-bridge can read (known: {', '.join(sorted(VENDORS))}); its tickets are"
                              " polled")
        secret = _reveal(hook.secret, config, f"{where}.secret") if hook.secret is not None else None
        webhooks[name] = WebhookSettings(name, vendor, secret)
    ready = {name: timedelta(seconds=section.ready_within_seconds or READY_POLLS * t.poll_interval_seconds)
             for name, t in trackers.items()}
    token = _reveal(section.token, config, "http.token") if section.token is not None else None
    return HttpSettings(section.host, section.port, section.max_body_bytes, ready, token, section.refresh_seconds,
                        section.queue_size, section.threads, webhooks)
