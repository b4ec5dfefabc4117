"""Settings of `keliu serve`: a YAML file (``--config``) and the environment (``KELIU_*``), the
environment winning. pydantic-settings validates them; a wrong value is a one-line ConfigError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from keliu.errors import ConfigError

__all__ = ["ServiceSettings", "load_settings"]


class ServiceSettings(BaseSettings):
    """Everything `keliu serve` needs beyond the store. Environment: ``KELIU_<NAME>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="KELIU_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    database_url: str | None = None  # None: the embedded SQLite file in KELIU_HOME
    organisation: str = "keliu"  # 组织 name shown in the UI, set on first start
    admin_username: str = "admin"
    # first administrator's password; None: a random one-time password printed once on first start
    admin_password: str | None = Field(None, min_length=10)
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    secure_cookies: bool = False  # set behind HTTPS so the session cookie is never sent in clear
    login_attempts: int = Field(5, ge=1, le=100)  # failed logins per user and address …
    login_window_s: float = Field(300.0, gt=0)  # … within this window lock that pair out for it
    sites_config: list[Path] = Field(default_factory=list)  # site YAML files whose cameras run live
    # video files under this directory may be the source of a device added through the API (played in a
    # loop like a live camera); None: the API accepts only rtsp/http(s) streams and usb cameras
    video_dir: Path | None = None
    demo: bool = False  # `make run`: seed a demo organisation …
    demo_video: Path | None = None  # … and play this video in a loop as a live camera of its first store
    ui: bool = True  # serve the web UI at / (KELIU_UI=false: the API alone)


def load_settings(path: Path | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from ``path`` (YAML mapping of the field names), the environment and ``overrides``
    (command-line options; ``None`` values are ignored)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such service config file") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read service config: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        data.update(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        # init values are the file and the options; pydantic-settings lets the environment win over
        # the file by reading it first here and applying the file only for names the env leaves unset
        env_only = ServiceSettings()
        merged = {**data, **{k: getattr(env_only, k) for k in env_only.model_fields_set}}
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return ServiceSettings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(settings)"
        source = f"{path}: " if path is not None else ""
        raise ConfigError(f"{source}{where}: {first['msg']} (or KELIU_{where.upper()})") from None
