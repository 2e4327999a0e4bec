"""Settings: flag > environment > config file (profile over top level) > default.

The config file is TOML (`config.example.toml` documents every key). Secrets — passwords in
URIs, tokens — are masked whenever settings are shown.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadcli.domain.errors import InvalidInput
from leadcli.domain.text import check_user

APP = "leadcli"
SECRET_KEYS = ("token", "password", "secret")
KNOWN_KEYS = {"db", "database", "user", "timezone", "page_size", "pipeline", "serve", "watch", "mongodb", "profiles"}


def home_override() -> Path | None:
    """`LEADCLI_HOME` moves config and data under one directory (tests, portable installs)."""
    value = os.environ.get("LEADCLI_HOME")
    return Path(value).expanduser() if value else None


def _xdg_dir(variable: str, fallback: str) -> Path | None:
    """On Linux, the directory platformdirs would give (`$XDG_…_HOME` if absolute, else the
    fallback under $HOME) without importing it: platformdirs costs ~14 ms, a fifth of
    `leadcli count`. None elsewhere, or when HOME is unusable, and platformdirs decides."""
    if not sys.platform.startswith("linux"):
        return None
    value = os.environ.get(variable, "")
    if os.path.isabs(value):
        return Path(value) / APP
    home = os.environ.get("HOME", "")
    return Path(home) / fallback / APP if os.path.isabs(home) else None


def default_config_path() -> Path:
    return _default_path("config.toml", "XDG_CONFIG_HOME", ".config", "user_config_dir")


def default_db_path() -> Path:
    return _default_path("leads.db", "XDG_DATA_HOME", ".local/share", "user_data_dir")


def _default_path(name: str, xdg: str, fallback: str, platform_dir: str) -> Path:
    """`name` in LEADCLI_HOME, else in the XDG directory, else where platformdirs puts it."""
    if (home := home_override()) is not None:
        return home / name
    if (found := _xdg_dir(xdg, fallback)) is not None:
        return found / name
    import platformdirs

    return Path(getattr(platformdirs, platform_dir)(APP)) / name


def mask_uri(uri: str) -> str:
    """`mongodb://ada:s3cret@host/db` -> `mongodb://ada:***@host/db`; also masks secret query
    parameters such as `?token=` or `password=`."""
    # Up to the last `@`: a password with a stray unescaped `@` or `/` must not leak its tail.
    masked = re.sub(r"(://[^:/@]*:).*@", r"\1***@", uri)  # `mongodb://:pw@host` too
    # a parameter named for a secret (`token=`, `tlsCertificateKeyFilePassword=`), and a session
    # token inside authMechanismProperties (`AWS_SESSION_TOKEN:...`)
    masked = re.sub(r"(?i)([?&](?:key[^=&]*|[^=&]*(?:token|password|secret|key))=)[^&]*", r"\1***", masked)
    return re.sub(r"(?i)([=,:]\w*(?:token|password|secret)\w*:)[^,&]*", r"\1***", masked)


def is_secret_key(key: str) -> bool:
    """Whether a setting named `key` holds a secret (a token, a password): never shown."""
    return any(word in key.lower() for word in SECRET_KEYS)


def mask_secrets(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: mask_secrets(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, key) for v in value]
    if isinstance(value, str):
        if is_secret_key(key) and value:
            return "***"
        if "://" in value:
            return mask_uri(value)
    return value


@dataclass
class Settings:
    db: str
    database: str | None
    user: str
    timezone: str | None
    page_size: int
    pipeline: dict[str, Any]
    serve: dict[str, Any]
    watch: dict[str, Any]
    config_path: Path
    profile: str | None
    sources: dict[str, str] = field(default_factory=dict)
    mongodb: dict[str, Any] = field(default_factory=dict)

    @property
    def web_app_compatible(self) -> bool:
        """Whether a MongoDB store is kept readable by the Leads Artisan web app (the default:
        `[mongodb] web_app_compatible = false` opts a store no web app shares out)."""
        return bool(self.mongodb.get("web_app_compatible", True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "database": self.database,
            "user": self.user,
            "timezone": self.timezone,
            "page_size": self.page_size,
            "pipeline": self.pipeline,
            "serve": self.serve,
            "watch": self.watch,
            "mongodb": {"web_app_compatible": self.web_app_compatible, **self.mongodb},
            "profile": self.profile,
            "config_path": str(self.config_path),
        }

    def masked(self) -> dict[str, Any]:
        return mask_secrets(self.as_dict())


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    import tomllib  # only when there is a file to read

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path}: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"config file {path}: not a TOML text file (it is not UTF-8 text)") from None
    except OSError as exc:
        raise InvalidInput(f"config file {path}: {exc.strerror}") from None
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise InvalidInput(f"config file {path}: unknown setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(KNOWN_KEYS))}")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(table, dict) for table in profiles.values()):
        raise InvalidInput(f"config file {path}: profiles must be tables, e.g. [profiles.team]")
    _check_types(path, data, "")
    for name, table in profiles.items():
        # A typo in a profile (`dbb = …`) would otherwise silently leave the team on the default store.
        unknown = set(table) - (KNOWN_KEYS - {"profiles"})
        if unknown:
            valid = ", ".join(sorted(KNOWN_KEYS - {"profiles"}))
            raise InvalidInput(f"config file {path}: unknown setting(s) {', '.join(sorted(unknown))} in [profiles.{name}]; valid: {valid}")
        _check_types(path, table, f" in [profiles.{name}]")
    return data


# What each setting must be, as TOML writes it; a wrong type is exit 2 naming the setting,
# not a crash in whichever command first uses it.
_KINDS: dict[str, tuple[type, str]] = {
    "db": (str, "text (a path or a mongodb:// URI)"), "database": (str, "text"), "user": (str, "text"),
    "timezone": (str, 'text (an IANA name, e.g. "Europe/Paris")'), "page_size": (int, "a whole number"),
    "pipeline": (dict, "a table ([pipeline])"), "serve": (dict, "a table ([serve])"), "watch": (dict, "a table ([watch])"),
    "mongodb": (dict, "a table ([mongodb])"),
}  # fmt: skip
_SWITCH_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
# The [serve] and [watch] keys config.example.toml documents whose type is checked here (the
# command checks allow_origin, which may be one origin or a list).
_SECTION_KINDS: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "serve": {"host": (str, "text (an address)"), "port": (int, "a port number"), "token": (str, "text")},
    "watch": {"server": (str, 'text (a URL, e.g. "ws://127.0.0.1:8765/ws")'), "token": (str, "text")},
}
_STAGE_LISTS = ("stages", "closed")
_STAGE_NAMES = ("won", "lost")
# Every key each section reads: a typo (`stage = [...]`, `prot = 9000`) is exit 2, not the default
# pipeline or port used in silence.
_SECTION_KEYS = {
    "pipeline": {*_STAGE_LISTS, *_STAGE_NAMES},
    "serve": {*_SECTION_KINDS["serve"], "allow_origin"},
    "watch": set(_SECTION_KINDS["watch"]),
}


def _check_types(path: Path, table: Mapping[str, Any], where: str) -> None:
    for key, (kind, described) in _KINDS.items():
        if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool)):
            raise InvalidInput(f"config file {path}: {key}{where} must be {described}, not {table[key]!r}")
    for section, known in _SECTION_KEYS.items():
        unknown = set(table.get(section) or {}) - known
        if unknown:
            valid = ", ".join(sorted(known))
            raise InvalidInput(f"config file {path}: unknown setting(s) {', '.join(sorted(unknown))} in [{section}]{where}; valid: {valid}")
    for section, keys in _SECTION_KINDS.items():
        for key, (kinds, described) in keys.items():
            value = (table.get(section) or {}).get(key)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
                shown = "***" if is_secret_key(key) else repr(value)  # a token is not echoed
                raise InvalidInput(f"config file {path}: {section}.{key}{where} must be {described}, not {shown}")
    port = (table.get("serve") or {}).get("port")
    if isinstance(port, int) and not 1 <= port <= 65535:
        raise InvalidInput(f"config file {path}: serve.port{where} must be a port number from 1 to 65535, not {port}")
    pipeline = table.get("pipeline") or {}
    for key in _STAGE_LISTS:
        value = pipeline.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value)):
            raise InvalidInput(f'config file {path}: pipeline.{key}{where} must be a list of stage names, e.g. ["New Lead", "Won"]')
    mongodb = table.get("mongodb") or {}
    unknown = set(mongodb) - {"web_app_compatible"}
    if unknown:
        raise InvalidInput(f"config file {path}: unknown setting(s) {', '.join(sorted(unknown))} in [mongodb]{where}; valid: web_app_compatible")
    if not isinstance(mongodb.get("web_app_compatible", True), bool):
        raise InvalidInput(f"config file {path}: mongodb.web_app_compatible{where} must be true or false")
    for key in _STAGE_NAMES:
        value = pipeline.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"config file {path}: pipeline.{key}{where} must be a stage name")


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _os_user() -> str:
    import getpass  # ~3 ms, and only needed when no --user, LEADCLI_USER or config user is given

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def config_file_path(config: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where the config file is (or would be): --config, else LEADCLI_CONFIG, else the default."""
    env = os.environ if env is None else env
    return Path(config or env.get("LEADCLI_CONFIG") or default_config_path()).expanduser().absolute()


def load_settings(
    *,
    db: str | None = None,
    config: str | None = None,
    profile: str | None = None,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    env = os.environ if env is None else env
    config_path = config_file_path(config, env)
    # A file someone named (flag or env: a cron job has no --config) must exist; only the
    # default one may be missing.
    named_by = "--config" if config else "LEADCLI_CONFIG" if env.get("LEADCLI_CONFIG") else None
    if named_by and not config_path.exists():
        raise InvalidInput(f"{named_by}: no such file {config_path}")
    file_data = read_config_file(config_path)
    profile_from = "--profile" if profile else "LEADCLI_PROFILE"
    profile = profile or env.get("LEADCLI_PROFILE") or None
    data = {k: v for k, v in file_data.items() if k != "profiles"}
    if profile:
        profiles = file_data.get("profiles", {})
        if profile not in profiles:
            names = ", ".join(sorted(profiles)) or "none defined"
            raise InvalidInput(f"{profile_from}: no profile {profile!r} in {config_path} (profiles: {names})")
        data = _merge(data, profiles[profile])

    sources: dict[str, str] = {}

    def pick(key: str, flag_value: Any, env_names: tuple[str, ...], default: Any) -> Any:
        if flag_value is not None:
            sources[key] = "flag"
            return flag_value
        for name in env_names:
            if env.get(name):
                sources[key] = f"env {name}"
                return env[name]
        if key in data:
            sources[key] = f"config {config_path}"
            return data[key]
        sources[key] = "default"
        return default() if callable(default) else default

    db_value = pick("db", db, ("LEADCLI_DB", "MONGODB_URI"), lambda: str(default_db_path()))
    page_size = pick("page_size", None, ("LEADCLI_PAGE_SIZE",), 20)
    try:
        page_size = int(page_size)
    except (TypeError, ValueError):
        raise InvalidInput(f"page_size: {page_size!r} is not a whole number") from None
    if page_size < 1:  # say where it came from: --page-size was not given
        source = sources["page_size"]  # "env LEADCLI_PAGE_SIZE" or "config PATH"
        where = f"config file {config_path}" if source.startswith("config") else source
        raise InvalidInput(f"{where}: page_size must be at least 1, not {page_size}")
    mongodb = dict(data.get("mongodb", {}))
    compatible = env.get("LEADCLI_WEB_APP_COMPATIBLE", "").strip().lower()
    if compatible:
        if compatible not in _SWITCH_WORDS:
            raise InvalidInput(f"LEADCLI_WEB_APP_COMPATIBLE: {compatible!r} is not true or false")
        mongodb["web_app_compatible"] = _SWITCH_WORDS[compatible]
        sources["mongodb.web_app_compatible"] = "env LEADCLI_WEB_APP_COMPATIBLE"
    return Settings(
        db=str(db_value),
        database=pick("database", None, ("LEADCLI_DATABASE", "MONGODB_DATABASE"), None),
        user=check_user(str(pick("user", user, ("LEADCLI_USER",), _os_user))),
        timezone=pick("timezone", None, ("LEADCLI_TIMEZONE",), None),
        page_size=page_size,
        pipeline=dict(data.get("pipeline", {})),
        serve=dict(data.get("serve", {})),
        watch=dict(data.get("watch", {})),
        mongodb=mongodb,
        config_path=config_path,
        profile=profile,
        sources=sources,
    )
