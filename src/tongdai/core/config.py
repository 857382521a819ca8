"""One typed, validated settings object: defaults < tongdai.yaml < TONGDAI_* environment < command line.

Nothing reads configuration at import time: `load_settings()` is called once by the composition root
(or the CLI) and the result is passed in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tongdai.callbacks.settings import CallbackSettings
from tongdai.crm.settings import CrmSettings
from tongdai.media.settings import MediaSettings
from tongdai.media.speech_settings import SpeechSettings
from tongdai.notify.settings import MailSettings
from tongdai.routing.settings import RoutingSettings
from tongdai.sip.settings import SipSettings

ENV_PREFIX = "TONGDAI_"
ENV_NESTED = "__"


class HttpSettings(BaseModel):
    """The HTTP server for the API and the web interface."""

    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed to call the API.")


class DatabaseSettings(BaseModel):
    """Where tongdai keeps its data."""

    url: str = Field(
        "sqlite+aiosqlite:///./var/tongdai.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user:pw@host/db.",
    )
    echo: bool = Field(False, description="Log every SQL statement.")


class SecuritySettings(BaseModel):
    """Tokens and passwords."""

    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Key that signs access tokens. Empty: one is generated and kept in var/secret.key.",
    )
    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="Lifetime of an access token.")
    login_max_failures: int = Field(
        10, ge=1, le=1000, description="Failed logins per user within 15 minutes before the account is locked."
    )


class LogSettings(BaseModel):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged.")
    json_format: bool = Field(True, alias="json", description="Structured JSON lines (false: plain text).")


class Settings(BaseSettings):
    """Every setting of tongdai; see docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED, extra="forbid", populate_by_name=True
    )

    data_dir: Path = Field(Path("./var"), description="Directory for the database, recordings and state.")
    http: HttpSettings = Field(default_factory=HttpSettings)  # type: ignore[arg-type]
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)  # type: ignore[arg-type]
    security: SecuritySettings = Field(default_factory=SecuritySettings)  # type: ignore[arg-type]
    log: LogSettings = Field(default_factory=LogSettings)  # type: ignore[arg-type]
    sip: SipSettings = Field(default_factory=SipSettings)  # type: ignore[arg-type]
    media: MediaSettings = Field(default_factory=MediaSettings)  # type: ignore[arg-type]
    routing: RoutingSettings = Field(default_factory=RoutingSettings)  # type: ignore[arg-type]
    mail: MailSettings = Field(default_factory=MailSettings)  # type: ignore[arg-type]
    crm: CrmSettings = Field(default_factory=CrmSettings)  # type: ignore[arg-type]
    speech: SpeechSettings = Field(default_factory=SpeechSettings)  # type: ignore[arg-type]
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)  # type: ignore[arg-type]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class ConfigError(Exception):
    """A setting has a bad value; the message names the key, the source and what is allowed."""


_yaml_data: dict[str, Any] = {}


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _yaml_data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{"http.port": 1} -> {"http": {"port": 1}}."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _lookup(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _source_of(loc: tuple[Any, ...], overrides: dict[str, Any], yaml_path: Path | None) -> str:
    if _lookup(overrides, loc):
        return "command line"
    env_name = ENV_PREFIX + ENV_NESTED.join(str(p) for p in loc).upper()
    if any(k.upper() == env_name for k in os.environ):
        return f"environment variable {env_name}"
    if yaml_path is not None and _lookup(_yaml_data, loc):
        return f"file {yaml_path}"
    return "default"


def load_settings(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings. `overrides` are dotted keys from the command line, e.g. {"http.port": 8081}.

    Raises ConfigError with one line per bad key.
    """
    global _yaml_data
    yaml_path: Path | None = None
    if config_file is not None:
        yaml_path = Path(config_file)
        if not yaml_path.exists():
            raise ConfigError(f"configuration file {yaml_path} does not exist")
    elif Path("tongdai.yaml").exists():
        yaml_path = Path("tongdai.yaml")
    _yaml_data = _read_yaml(yaml_path) if yaml_path else {}
    nested = _nest(overrides or {})
    try:
        return Settings(**nested)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc)
            where = _source_of(loc, nested, yaml_path)
            given = err.get("input")
            shown = "" if isinstance(given, dict) else f" (given {given!r})"
            lines.append(f"setting {key} from {where}{shown}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
