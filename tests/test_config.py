"""Configuration: a secret is made once for the embedded default, never silently in production."""

from __future__ import annotations

import stat

import pytest

from omnigift.config import ConfigurationError, Settings


def test_the_embedded_default_creates_a_private_secret_once_and_reuses_it(tmp_path):
    first = Settings(data_dir=tmp_path).resolved_secret_key
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path).resolved_secret_key == first
    assert len(first) >= 32


def test_production_without_a_secret_refuses_to_start(tmp_path):
    with pytest.raises(ConfigurationError, match="OMNIGIFT_SECRET_KEY"):
        _ = Settings(env="production", data_dir=tmp_path).resolved_secret_key
    assert not (tmp_path / "secret.key").exists()


def test_a_short_secret_is_refused(tmp_path):
    with pytest.raises(ConfigurationError):
        _ = Settings(secret_key="short", data_dir=tmp_path).resolved_secret_key


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OMNIGIFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OMNIGIFT_CODE_PREFIX", "6011")
    settings = Settings()
    assert settings.code_prefix == "6011"
    assert settings.resolved_database_url.endswith(f"{tmp_path}/omnigift.sqlite")


def test_a_prefix_that_leaves_fewer_than_15_random_digits_is_refused():
    from omnigift.codes import CodePolicy

    with pytest.raises(ValueError, match="random digits"):
        CodePolicy(length=16, prefix="1234")
