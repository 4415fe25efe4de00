"""Security: production mode refuses unsafe credentials; login and write routes are rate limited; oversized and
malformed requests get clear 4xx answers."""

import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from community.cli import app_for
from core.limits import ApiLimits, Lockout, RateLimiter
from core.settings import Settings
from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR, add_people, login
from tests.conftest import wait_for

GOOD = dict(mode="production", operator_token="k" * 8 + "Q7f2xLp9Rt4vWz8yN3mB", mqtt_username="community-service",
            mqtt_password="mqtt-pass-9f8e7d6c", influx_token="influx-token-abcdef123456",
            database_url="postgresql+psycopg://community:pw@db/community", mqtt_allow_plaintext=True)


def test_production_mode_refuses_missing_or_placeholder_credentials():
    Settings(_env_file=None, **GOOD)  # a real-looking configuration starts
    for key, bad in (("operator_token", "changeme"), ("operator_token", None), ("mqtt_password", "password"),
                     ("influx_token", None), ("database_url", "sqlite:///var/community.db")):
        with pytest.raises(ValidationError, match="refusing to start in production mode"):
            Settings(_env_file=None, **{**GOOD, key: bad})
    Settings(_env_file=None, mode="local")  # local development needs none of it


def test_production_mode_refuses_placeholder_robot_keys_and_provider_secrets():
    good = {"wecom_robots": {"site1": "693a91f6-7b2c-4bc4-97a0-0ec2b1fa5aaa"},
            "dingtalk_robots": {"site1": {"token": "a" * 64, "secret": "SEC" + "4f" * 32}},
            "sms_access_key_id": "LTAI5tKeyId0000", "sms_access_key_secret": "Z3lvBk0Q9sQk1xYtq8Vw7nH2mP4rT6"}
    Settings(_env_file=None, **GOOD, **good)
    for key, bad in (("wecom_robots", {"site1": "changeme"}), ("dingtalk_robots", {"site1": {"token": "t" * 64,
                                                                                          "secret": "secret"}}),
                     ("sms_access_key_secret", "test")):
        with pytest.raises(ValidationError, match="placeholder or too short"):
            Settings(_env_file=None, **GOOD, **{**good, key: bad})


def test_the_service_command_exits_with_the_reasons_in_production_mode(tmp_path):
    env = {**os.environ, "COMMUNITY_MODE": "production", "COMMUNITY_OPERATOR_TOKEN": "changeme",
           "COMMUNITY_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "community.cli", "run"], env=env, capture_output=True,
                            text=True, timeout=60, check=False, cwd=tmp_path)
    assert result.returncode != 0
    assert "configuration error" in result.stderr and "COMMUNITY_OPERATOR_TOKEN" in result.stderr


def test_lockout_is_per_key_and_backs_off():
    now = [0.0]
    guard = Lockout(limit=3, window_s=60, lock_s=10, max_lock_s=25, clock=lambda: now[0])
    for _ in range(3):
        guard.failed("wang@a")
    assert guard.retry_after("wang@a") == 11 and guard.retry_after("wang@b") == 0
    now[0] = 11
    assert guard.retry_after("wang@a") == 0
    for _ in range(3):
        guard.failed("wang@a")
    assert guard.retry_after("wang@a") == 21  # the second lockout lasts twice as long
    now[0] = 40
    for _ in range(3):
        guard.failed("wang@a")
    assert guard.retry_after("wang@a") == 26  # capped
    guard.succeeded("wang@a")
    assert guard.retry_after("wang@a") == 0


def test_rate_limiter_window():
    now = [0.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")  # keys are independent
    assert limiter.retry_after("a") >= 1
    now[0] = 10.1
    assert limiter.allow("a")


@pytest.mark.integration
def test_login_lockout_write_throttle_and_request_size_limits(alert_service, publisher, unique):
    runtime = alert_service()
    add_people(runtime)
    limits = ApiLimits(writes=RateLimiter(2, 60), max_body_bytes=4096)
    client = TestClient(app_for(runtime, OPERATOR, limits))
    for _ in range(5):
        assert client.post("/auth/token", data={"username": "wang", "password": "guess"}).status_code == 401
    locked = client.post("/auth/token", data={"username": "wang", "password": "tech-password"})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "failed logins" in locked.json()["detail"]
    # the guesses came from one address: the real technician, elsewhere, still gets in
    elsewhere = TestClient(app_for(runtime, OPERATOR, limits), client=("10.1.2.3", 50000))
    assert elsewhere.post("/auth/token", data={"username": "wang", "password": "tech-password"}).status_code == 200

    fleet = Fleet(seed=15, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))
    staff = login(client, "staff1", "staff-password")
    assert wait_for(lambda: client.get("/work-orders", headers=staff).json())
    oid = client.get("/work-orders", headers=staff).json()[0]["id"]
    assert client.post(f"/work-orders/{oid}/acknowledge", headers=staff).status_code == 200
    assert client.post(f"/work-orders/{oid}/start", headers=staff).status_code == 200
    throttled = client.post(f"/work-orders/{oid}/resolve", headers=staff)
    assert throttled.status_code == 429 and "too many changes" in throttled.json()["detail"]

    big = client.post(f"/work-orders/{oid}/resolve", headers={**staff, "Content-Type": "application/json"},
                      content=b'{"note": "' + b"x" * 10_000 + b'"}')
    assert big.status_code == 413 and "larger than 4096 bytes" in big.json()["detail"]
    chunked = client.post(f"/work-orders/{oid}/resolve", headers={**staff, "Content-Type": "application/json"},
                          content=iter([b'{"note": "', b"y" * 5000, b'"}']))
    assert chunked.status_code == 413
    wrong_type = client.post(f"/work-orders/{oid}/follow-up", headers=staff, json={"rating": "five"})
    assert wrong_type.status_code == 422 and "rating" in wrong_type.text
