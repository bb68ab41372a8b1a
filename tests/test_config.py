"""Settings: defaults, the TOML file, the environment, overrides, errors."""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path

import pytest

from gateway.config import (
    SETTINGS_HELP,
    SPECS,
    Settings,
    load_settings,
    mask_url,
    masked_values,
    unknown_env,
)
from signaling.errors import ConfigError, HelplineError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "docs" / "helpline.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "helpline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_setting_is_a_field_and_the_other_way_round() -> None:
    names = {field.name for field in dataclasses.fields(Settings)}
    assert names == {spec.name for spec in SPECS} | {"sources"}


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {}, {})

    assert settings.http == "127.0.0.1:8080"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert (settings.sip_host, settings.sip_port) == ("127.0.0.1", 5060)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.data_dir == tmp_path.resolve() / "data"
    assert settings.redis_url == "" and settings.redis_mode == "embedded"
    assert settings.turn_urls == () and settings.turn_ttl_s == 3600
    assert settings.ice_interfaces == ()
    assert (settings.log_level, settings.log_format) == ("INFO", "text")
    assert settings.workers == 1 and settings.demo is True
    assert settings.ring_timeout_s == 15 and settings.grace_s == 30
    assert settings.customer_sessions_per_minute == 20
    assert settings.max_frame_bytes == 65536
    assert (settings.callbacks_per_number, settings.callbacks_per_day) == (3, 500)
    assert set(settings.sources.values()) == {"default"}


def test_direct_construction_derives_the_public_url() -> None:
    assert Settings(http="[::1]:9000").public_url == "http://[::1]:9000"
    assert Settings(http="0.0.0.0:80").public_url == "http://127.0.0.1:80"
    assert Settings(http="[::]:81").public_url == "http://[::1]:81"
    assert Settings(public_url="https://x.example").public_url == "https://x.example"


FULL_FILE = """
data_dir = "state"
demo = false

[http]
listen = "0.0.0.0:8443"
public_url = "https://help.example.com/"
workers = 4

[sip]
listen = "[::1]:5070"
tollfree_uri = "sips:tollfree@trunk.example.net;transport=tls"
workers = 3
rtp_port = 30000
numbers = ["+18005550123", "helpline"]
trusted = "203.0.113.0/24"

[trunk]
registrar = "sip:trunk.example.net"
username = "helpline"
password = "trunk-secret"
proxy = "sip:trunk.example.net;transport=tcp;lr"
domain = "example.pstn.twilio.com"
refer = true
tls_verify = false
ca_file = ""
answer_s = 12

[redis]
url = "redis://:hunter22@redis.example.net:6380/2"

[turn]
urls = ["turn:turn.example.com:3478?transport=udp", "stun:stun.example.com"]
secret = "shared-secret"
ttl_s = 600

[bridge]
passthrough = false
web_tollfree = false

[ice]
interfaces = ["203.0.113.7", "2001:DB8:0::7"]

[log]
level = "debug"
format = "json"
digits = true

[ivr]
tts_voice = "fr"
callback_countries = "gb, ie"

[callbacks]
per_number = 1
per_day = 20000
per_address = 4
max_attempts = 5
retry_s = 60
offer_s = 30
ring_s = 25
wrap_up_s = 600
live_first = false
windows = ["08:00-10:00", "16:00-18:00"]
consent = "We may call you back on this number."

[routing]
ring_timeout_s = 20
announce_s = 45

[events]
retention_days = 30
buffer = 500
service_level_s = 30

[signaling]
grace_s = 0
customer_sessions_per_minute = 5
max_frame_bytes = 2048
"""


def test_every_key_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_FILE)
    settings = load_settings(path, {}, {})

    assert settings.data_dir == tmp_path.resolve() / "state"
    assert settings.demo is False
    assert settings.http == "0.0.0.0:8443" and settings.workers == 4
    assert settings.public_url == "https://help.example.com"
    assert settings.sip == "[::1]:5070" and settings.sip_host == "::1"
    assert settings.tollfree_uri.startswith("sips:tollfree@")
    assert settings.redis_url.endswith("@redis.example.net:6380/2")
    assert settings.redis_mode == "external"
    assert settings.turn_urls == (
        "turn:turn.example.com:3478?transport=udp",
        "stun:stun.example.com",
    )
    assert settings.turn_secret == "shared-secret" and settings.turn_ttl_s == 600
    assert settings.ice_interfaces == ("203.0.113.7", "2001:db8::7")
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    assert settings.log_digits is True
    assert settings.ring_timeout_s == 20 and settings.grace_s == 0
    assert settings.announce_s == 45
    assert settings.events_retention_days == 30
    assert (settings.events_buffer, settings.service_level_s) == (500, 30)
    assert settings.customer_sessions_per_minute == 5
    assert settings.max_frame_bytes == 2048
    assert settings.tts_voice == "fr"
    assert settings.callback_countries == ("GB", "IE")
    assert (settings.sip_workers, settings.rtp_port) == (3, 30000)
    assert settings.sip_numbers == ("+18005550123", "helpline")
    assert settings.sip_trusted == ("203.0.113.0/24",)
    assert settings.trunk_registrar == "sip:trunk.example.net"
    assert settings.trunk_password == "trunk-secret"
    assert settings.trunk_proxy.endswith(";transport=tcp;lr")
    assert settings.trunk_domain == "example.pstn.twilio.com"
    assert settings.trunk_refer is True and settings.trunk_tls_verify is False
    assert settings.trunk_answer_s == 12
    assert settings.bridge_passthrough is False
    assert settings.bridge_web_tollfree is False
    assert (settings.callbacks_per_number, settings.callbacks_per_day) == (1, 20000)
    assert set(settings.sources.values()) == {"file"}


def test_the_example_file_lists_every_setting_at_its_default(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^# ([a-z_]+ = .*)$", r"\1", text)
    path = write(tmp_path, uncommented)

    from_file = load_settings(path, {}, {})
    defaults = load_settings(None, {"HELPLINE_DATA_DIR": str(tmp_path / "data")}, {})

    assert set(from_file.sources.values()) == {"file"}
    assert from_file == defaults


def test_precedence_overrides_env_file_default(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nlisten = "127.0.0.1:1000"\nworkers = 2\n')
    env = {"HELPLINE_HTTP": "127.0.0.1:2000", "HELPLINE_SIP": "127.0.0.1:5090"}
    settings = load_settings(path, env, {"http": "127.0.0.1:3000", "sip": None})

    assert settings.http == "127.0.0.1:3000"
    assert settings.sip == "127.0.0.1:5090"
    assert settings.workers == 2
    assert settings.public_url == "http://127.0.0.1:3000"
    assert settings.sources["http"] == "command line"
    assert settings.sources["sip"] == "env"
    assert settings.sources["workers"] == "file"
    assert settings.sources["grace_s"] == "default"


def test_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    path = tmp_path / "etc" / "helpline.toml"
    path.write_text('data_dir = "../var"\n')

    assert load_settings(path, {}, {}).data_dir == tmp_path.resolve() / "var"
    from_env = load_settings(path, {"HELPLINE_DATA_DIR": "here"}, {})
    assert from_env.data_dir == tmp_path.resolve() / "cwd" / "here"


def test_env_forms() -> None:
    env = {
        "HELPLINE_TURN_URLS": " stun:a.example , turns:b.example:5349 ,",
        "HELPLINE_TURN_SECRET": "s",
        "HELPLINE_DEMO": "off",
        "HELPLINE_WORKERS": " 8 ",
        "HELPLINE_LOG_FORMAT": "JSON",
        "HELPLINE_REDIS_URL": "unix:///run/redis/redis.sock?db=3",
        "HELPLINE_ICE_INTERFACES": " 192.0.2.10, ::1 ,",
    }
    settings = load_settings(None, env, {})
    assert settings.turn_urls == ("stun:a.example", "turns:b.example:5349")
    assert settings.ice_interfaces == ("192.0.2.10", "::1")
    assert settings.demo is False and settings.workers == 8
    assert settings.log_format == "json"
    assert settings.redis_url == "unix:///run/redis/redis.sock?db=3"


def test_trunk_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "HELPLINE_TOLLFREE_URI": "tel:+1-800-555-0100",
        "HELPLINE_TRUNK_DOMAIN": "Example.PSTN.Twilio.com",
        "HELPLINE_TRUNK_REFER": "yes",
        "HELPLINE_TRUNK_TLS_VERIFY": "false",
        "HELPLINE_TRUNK_CA_FILE": str(ca),
        "HELPLINE_TRUNK_ANSWER_S": "5",
    }
    settings = load_settings(None, env, {})
    assert settings.tollfree_uri == "tel:+1-800-555-0100"
    assert settings.trunk_domain == "example.pstn.twilio.com"
    assert settings.trunk_refer is True and settings.trunk_tls_verify is False
    assert settings.trunk_ca_file == str(ca)
    assert settings.trunk_answer_s == 5
    bare = load_settings(None, {"HELPLINE_TOLLFREE_URI": "+18005550100"}, {})
    assert bare.tollfree_uri == "+18005550100"
    defaults = load_settings(None, {}, {})
    assert (defaults.trunk_refer, defaults.trunk_tls_verify) == (False, True)
    assert (defaults.trunk_domain, defaults.trunk_ca_file) == ("", "")
    assert defaults.trunk_answer_s == 30


BAD_ENV = [
    ("HELPLINE_HTTP", "localhost", "is not HOST:PORT; write it like 127.0.0.1:8080"),
    ("HELPLINE_HTTP", "127.0.0.1:99999", "port above 65535"),
    ("HELPLINE_HTTP", "300.1.2.3:80", "bad IPv4 address"),
    ("HELPLINE_HTTP", "[::g]:80", "is not HOST:PORT"),
    ("HELPLINE_SIP", "127.0.0.1", "write it like 127.0.0.1:5060"),
    ("HELPLINE_PUBLIC_URL", "ftp://x.example", "is not an http:// or https://"),
    ("HELPLINE_PUBLIC_URL", "https://x.example/?a=1", "query or a fragment"),
    ("HELPLINE_DATA_DIR", "", "is not a folder path"),
    ("HELPLINE_REDIS_URL", "localhost:6379", "is not a Redis URL"),
    ("HELPLINE_REDIS_URL", "redis://host:port/0", "is not a valid URL"),
    ("HELPLINE_REDIS_URL", "redis://host/zero", "is not a Redis URL"),
    ("HELPLINE_TOLLFREE_URI", "tel:5550100", "is not a sip: or sips: URI, nor"),
    ("HELPLINE_TOLLFREE_URI", "18005550100", "nor a +E164 or tel: number"),
    ("HELPLINE_TOLLFREE_URI", "+1800555010012345", "nor a +E164 or tel: number"),
    ("HELPLINE_TRUNK_DOMAIN", "203.0.113.5", "must be a name, not an address"),
    ("HELPLINE_TRUNK_DOMAIN", "pstn_trunk.example", "is not a DNS name"),
    ("HELPLINE_TRUNK_REFER", "sometimes", "is not true or false"),
    ("HELPLINE_TRUNK_TLS_VERIFY", "strict", "is not true or false"),
    ("HELPLINE_TRUNK_CA_FILE", "/nonexistent/ca.pem", "is not an existing file"),
    ("HELPLINE_TRUNK_ANSWER_S", "0", "from 1 to 300"),
    ("HELPLINE_TOLLFREE_URI", "sip:a@b?Route=x", "is not a sip: or sips: URI"),
    ("HELPLINE_TURN_URLS", "http://turn.example", "not a turn:, turns: or stun:"),
    ("HELPLINE_TURN_URLS", "stun:x?transport=udp", "not a turn:, turns: or stun:"),
    ("HELPLINE_TURN_TTL", "10", "use a whole number from 60 to 86400"),
    ("HELPLINE_ICE_INTERFACES", "eth0", "'eth0', which is not an IP address"),
    ("HELPLINE_ICE_INTERFACES", "10.0.0.0/8", "which is not an IP address"),
    ("HELPLINE_ICE_INTERFACES", "0.0.0.0", "which no interface can have"),
    ("HELPLINE_LOG_LEVEL", "LOUD", "use one of DEBUG, INFO"),
    ("HELPLINE_LOG_FORMAT", "xml", "use one of text, json"),
    ("HELPLINE_WORKERS", "0", "is out of range; use a whole number from 1 to 64"),
    ("HELPLINE_WORKERS", "65", "is out of range"),
    ("HELPLINE_WORKERS", "two", "is not a whole number"),
    ("HELPLINE_WORKERS", "-1", "is not a whole number"),
    ("HELPLINE_DEMO", "maybe", "is not true or false; use true or false"),
    ("HELPLINE_RING_TIMEOUT", "1", "from 5 to 300"),
    ("HELPLINE_GRACE", "3601", "from 0 to 3600"),
    ("HELPLINE_CUSTOMER_SESSIONS_PER_MINUTE", "0", "from 1 to 10000"),
    ("HELPLINE_MAX_FRAME_BYTES", "100", "from 1024 to 1048576"),
    ("HELPLINE_CALLBACK_COUNTRIES", "US,ZZ", "'ZZ', which is not one of AU, CA"),
    ("HELPLINE_CALLBACK_COUNTRIES", " , ", "is empty"),
    ("HELPLINE_TTS_VOICE", "en us; rm", "is not a voice name"),
    ("HELPLINE_CALLBACKS_PER_NUMBER", "0", "use a whole number from 1 to 100"),
    ("HELPLINE_CALLBACKS_PER_NUMBER", "three", "is not a whole number"),
    ("HELPLINE_CALLBACKS_PER_DAY", "2000000", "from 1 to 1000000"),
]


@pytest.mark.parametrize(("variable", "value", "says"), BAD_ENV)
def test_bad_env_value(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {variable: value}, {})

    spec = next(spec for spec in SPECS if spec.env == variable)
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r} ")
    assert says in message
    assert f"TOML key {spec.toml}" in message
    assert caught.value.setting == spec.toml
    assert caught.value.fix and caught.value.fix in message
    assert isinstance(caught.value, HelplineError)


def test_the_message_the_brief_asks_for() -> None:
    with pytest.raises(ConfigError, match=r"^HELPLINE_HTTP='localhost' is not "):
        load_settings(None, {"HELPLINE_HTTP": "localhost"}, {})


def test_bad_value_in_the_file_names_file_key_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nworkers = "many"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {}, {})
    message = str(caught.value)
    assert message.startswith(f"http.workers = 'many' in {path} is not a whole")
    assert "env HELPLINE_WORKERS" in message


def test_wrong_toml_types(tmp_path: Path) -> None:
    for text, says in [
        ("demo = 1\n", "is not true or false"),
        ("[http]\nworkers = true\n", "is not a whole number"),
        ("[http]\nlisten = 8080\n", "is not a string"),
        ("[turn]\nurls = [1]\n", "is not a string"),
    ]:
        with pytest.raises(ConfigError, match=says):
            load_settings(write(tmp_path, text), {}, {})


def test_bad_override_names_the_option() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {}, {"workers": "100"})
    assert str(caught.value).startswith("--workers '100' is out of range")
    assert "TOML key http.workers, env HELPLINE_WORKERS" in str(caught.value)
    with pytest.raises(ValueError, match="no setting named"):
        load_settings(None, {}, {"nonsense": 1})


@pytest.mark.parametrize(
    ("text", "key", "guess"),
    [
        ('[http]\nlistn = "127.0.0.1:1"\n', "http.listn", "http.listen"),
        ('[htp]\nlisten = "127.0.0.1:1"\n', "htp.listen", "http.listen"),
        ('redis_url = "redis://x"\n', "redis_url", "redis.url"),
        ('http = "127.0.0.1:1"\n', "http", "http.listen"),
        ("[routing]\ngrace_s = 3\n", "routing.grace_s", "signaling.grace_s"),
        ("[log]\nhelpline_log_level = 'INFO'\n", "log.helpline_log_level", "log.level"),
    ],
)
def test_unknown_key_suggests_the_right_one(
    tmp_path: Path, text: str, key: str, guess: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {}, {})
    assert f"unknown key {key!r}; did you mean {guess}?" in str(caught.value)


def test_unknown_key_far_from_any(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'zzz'; remove it"):
        load_settings(write(tmp_path, "zzz = 1\n"), {}, {})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file .*missing"):
        load_settings(tmp_path / "missing.toml", {}, {})
    with pytest.raises(ConfigError, match=r"is not valid TOML \(.*line 2"):
        load_settings(write(tmp_path, "[http]\nlisten = \n"), {}, {})
    (tmp_path / "bytes.toml").write_bytes(b"demo = \xff\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "bytes.toml", {}, {})


def test_turn_server_needs_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"HELPLINE_TURN_URLS": "turn:t.example:3478"}, {})
    assert caught.value.setting == "turn.secret"
    assert "HELPLINE_TURN_SECRET" in str(caught.value)
    stun_only = load_settings(None, {"HELPLINE_TURN_URLS": "stun:s.example"}, {})
    assert stun_only.turn_urls == ("stun:s.example",)


def test_secrets_are_masked() -> None:
    env = {
        "HELPLINE_TURN_URLS": "turns:t.example",
        "HELPLINE_TURN_SECRET": "very-secret-value",
        "HELPLINE_REDIS_URL": "rediss://user:pa55word@r.example:6380/1",
    }
    settings = load_settings(None, env, {})
    shown = masked_values(settings)

    assert shown["turn.secret"] == "********"
    assert shown["redis.url"] == "rediss://user:********@r.example:6380/1"
    for text in (repr(settings), str(shown)):
        assert "very-secret-value" not in text and "pa55word" not in text
    assert mask_url("redis://r.example:6379/0") == "redis://r.example:6379/0"
    assert masked_values(Settings())["redis.url"] == "(embedded)"


def test_unknown_env_notes() -> None:
    env = {
        "HELPLINE_HTTPS": "x",
        "HELPLINE_HTTP": "127.0.0.1:1",
        "HELPLINE_CONFIG": "/etc/helpline.toml",
        "HELPLINE_TEST_NETNS": "1",
        "HOME": "/root",
    }
    assert unknown_env(env) == [
        "HELPLINE_HTTPS is not a Helpline setting (did you mean HELPLINE_HTTP?)"
    ]


def test_help_text_names_every_setting() -> None:
    for spec in SPECS:
        assert spec.toml in SETTINGS_HELP
        assert spec.env in SETTINGS_HELP
        if spec.option:
            assert spec.option in SETTINGS_HELP
    assert "HELPLINE_CONFIG" in SETTINGS_HELP


def test_settings_survive_pickling_for_spawned_workers(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_FILE)
    settings = load_settings(path, {}, {"workers": "8"})
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings and copy.sources == settings.sources
    assert copy.public_url == "https://help.example.com"
