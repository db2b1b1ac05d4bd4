"""AUTHARA_CACHE_PROVIDER and AUTHARA_REDIS_*: read the same way by core and the gateway."""

import pytest

from authara_contract.env import EnvReader, Service, SettingsError
from authara_runtime.cache import RedisSettings, read_cache_settings


def read(environ: dict[str, str], service: Service = Service.CORE) -> RedisSettings | None:
    reader = EnvReader(environ, service)
    settings = read_cache_settings(reader)
    reader.finish()
    return settings


@pytest.mark.parametrize("service", [Service.CORE, Service.GATEWAY])
def test_noop_by_default(service: Service) -> None:
    assert read({}, service) is None
    assert read({"AUTHARA_CACHE_PROVIDER": " NOOP "}, service) is None


@pytest.mark.parametrize("service", [Service.CORE, Service.GATEWAY])
def test_redis_with_upstreams_defaults(service: Service) -> None:
    settings = read({"AUTHARA_CACHE_PROVIDER": "Redis"}, service)
    assert settings == RedisSettings(host="localhost", port=6379, password=None, db=0)


def test_redis_settings_are_read_and_the_password_stays_out_of_repr() -> None:
    settings = read(
        {
            "AUTHARA_CACHE_PROVIDER": "redis",
            "AUTHARA_REDIS_HOST": "cache.internal",
            "AUTHARA_REDIS_PORT": "6380",
            "AUTHARA_REDIS_PASSWORD": "s3cret pass",
            "AUTHARA_REDIS_DB": "3",
        }
    )
    assert settings == RedisSettings("cache.internal", 6380, "s3cret pass", 3)
    assert "s3cret" not in repr(settings)
    assert settings.address == "cache.internal:6380/3"


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"AUTHARA_CACHE_PROVIDER": "memcached"}, "AUTHARA_CACHE_PROVIDER"),
        ({"AUTHARA_CACHE_PROVIDER": "redis", "AUTHARA_REDIS_HOST": " "}, "AUTHARA_REDIS_HOST"),
        ({"AUTHARA_CACHE_PROVIDER": "redis", "AUTHARA_REDIS_PORT": "0"}, "AUTHARA_REDIS_PORT"),
        ({"AUTHARA_CACHE_PROVIDER": "redis", "AUTHARA_REDIS_PORT": "x"}, "AUTHARA_REDIS_PORT"),
        ({"AUTHARA_CACHE_PROVIDER": "redis", "AUTHARA_REDIS_DB": "-1"}, "AUTHARA_REDIS_DB"),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        read(environ)
    assert name in caught.value.message
