"""The management commands a new user meets first: createtenant, demo, and runplatform's supervisor."""

from __future__ import annotations

import re
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from cpaas.core.management.supervisor import Child, StartFailed, Supervisor
from cpaas.tenants.keys import api_key_revoke, hash_secret
from cpaas.tenants.models import ApiKey, Tenant
from tests.conftest import client_for

SECRET = re.compile(r"sk_(?:test|live)_[A-Za-z0-9]{32}")


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def secrets_in(text: str) -> list[str]:
    return SECRET.findall(text)


def test_createtenant_prints_a_test_key_that_authenticates(db):
    output = run("createtenant", "--name", "Initech")

    tenant = Tenant.objects.get(name="Initech")
    assert tenant.id in output
    [secret] = secrets_in(output)
    assert secret.startswith("sk_test_")
    response = client_for(secret).get("/v1/me")
    assert response.status_code == 200
    assert response.json()["tenant"] == tenant.id
    assert response.json()["app"] in output


def test_createtenant_with_live_prints_a_live_key_too(db):
    output = run("createtenant", "--name", "Initech", "--live")

    test_secret, live_secret = secrets_in(output)
    assert live_secret.startswith("sk_live_")
    body = client_for(live_secret).get("/v1/me").json()
    assert body["livemode"] is True
    assert body["tenant"] == client_for(test_secret).get("/v1/me").json()["tenant"]


def test_createtenant_makes_the_owner_able_to_log_in(db):
    output = run("createtenant", "--name", "Initech", "--owner-email", "bill@initech.test",
                 "--owner-password", "tps-reports-2026")

    user = get_user_model().objects.get(username="bill@initech.test")
    assert user.check_password("tps-reports-2026")
    assert user.memberships.get().role == "owner"
    assert "bill@initech.test" in output


def test_createtenant_generates_and_prints_a_password_for_a_new_owner(db):
    output = run("createtenant", "--name", "Initech", "--owner-email", "bill@initech.test")

    password = re.search(r"bill@initech\.test / (\S+)", output).group(1)
    assert get_user_model().objects.get(username="bill@initech.test").check_password(password)


def test_createtenant_refuses_a_password_without_an_owner(db):
    with pytest.raises(CommandError):
        run("createtenant", "--name", "Initech", "--owner-password", "x")
    assert not Tenant.objects.exists()


@pytest.fixture
def var_dir(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_demo_is_idempotent_and_reuses_the_stored_key(db, var_dir):
    first = run("demo")
    second = run("demo")

    assert Tenant.objects.filter(name="Demo").count() == 1
    [secret] = set(secrets_in(first))
    assert set(secrets_in(second)) == {secret}
    assert (var_dir / "demo_key").read_text().strip() == secret
    assert ApiKey.objects.filter(tenant__name="Demo").count() == 1
    assert client_for(secret).get("/v1/me").status_code == 200


def test_the_demo_app_owns_a_few_sandbox_numbers_it_can_send_from(db, var_dir):
    from cpaas.messaging.models import PhoneNumber

    run("demo")
    output = run("demo")
    numbers = list(PhoneNumber.objects.filter(app__tenant__name="Demo").values_list("number", flat=True))
    assert len(numbers) == 3
    assert numbers[0] in output or numbers[1] in output
    [secret] = set(secrets_in(output))
    sent = client_for(secret).post("/v1/messages", {"from": numbers[0], "to": "+15005550000", "body": "Hi"},
                                   format="json")
    assert sent.status_code == 201, sent.json()


def test_demo_prints_a_console_login_that_works(db, var_dir):
    output = run("demo")

    password = (var_dir / "demo_password").read_text().strip()
    assert f"demo@example.com / {password}" in output
    assert get_user_model().objects.get(username="demo@example.com").check_password(password)
    assert re.search(r'curl -H "Authorization: Bearer sk_test_\w+" http://\S+/v1/me', output)


def test_demo_mints_a_new_key_when_the_stored_one_is_revoked(db, var_dir):
    [old] = set(secrets_in(run("demo")))
    api_key_revoke(key=ApiKey.objects.get(secret_hash=hash_secret(old)))

    [new] = set(secrets_in(run("demo")))

    assert new != old
    assert (var_dir / "demo_key").read_text().strip() == new
    assert client_for(new).get("/v1/me").status_code == 200
    assert Tenant.objects.filter(name="Demo").count() == 1


def test_demo_mints_a_new_key_when_the_key_file_is_missing(db, var_dir):
    [old] = set(secrets_in(run("demo")))
    (var_dir / "demo_key").unlink()

    [new] = set(secrets_in(run("demo")))

    assert new != old
    assert client_for(new).get("/v1/me").status_code == 200


def test_demo_keeps_its_files_private(db, var_dir):
    run("demo")

    assert (var_dir / "demo_key").stat().st_mode & 0o077 == 0
    assert (var_dir / "demo_password").stat().st_mode & 0o077 == 0


def sleeper(seconds: float = 60) -> list[str]:
    return [sys.executable, "-c", f"import time; time.sleep({seconds})"]


def test_the_supervisor_stops_every_child_when_one_dies():
    out = StringIO()
    supervisor = Supervisor([("sleeper", sleeper()), ("crasher", [sys.executable, "-c", "raise SystemExit(3)"])],
                            out=out, grace_seconds=5)

    assert supervisor.run() == 1

    assert all(child.process.poll() is not None for child in supervisor.children)
    assert "crasher exited with status 3" in out.getvalue()


def test_the_supervisor_stops_cleanly_when_asked():
    out = StringIO()
    supervisor = Supervisor([("one", sleeper()), ("two", sleeper())], out=out, grace_seconds=5)
    ticks = []

    def tick():
        ticks.append(1)
        if len(ticks) == 3:
            supervisor.request_stop()

    assert supervisor.run(on_tick=tick) == 0
    assert all(child.process.poll() is not None for child in supervisor.children)


def test_the_supervisor_prefixes_each_line_with_its_process():
    out = StringIO()
    supervisor = Supervisor([("talker", [sys.executable, "-c", "print('hello'); print('world')"])], out=out)

    assert supervisor.run() == 1  # a child that exits on its own is a failure of the platform

    assert "talker | hello" in out.getvalue()
    assert "talker | world" in out.getvalue()


class GoneStream:
    def write(self, text):
        raise BrokenPipeError

    def flush(self):
        raise BrokenPipeError


def test_the_supervisor_still_stops_every_child_when_its_output_is_gone():
    supervisor = Supervisor([("one", sleeper()), ("two", sleeper())], out=GoneStream(), grace_seconds=5)

    assert supervisor.run(on_tick=supervisor.request_stop) == 0

    assert all(child.process.poll() is not None for child in supervisor.children)


def test_the_supervisor_starts_the_others_once_its_services_answer_and_stops_the_services_last():
    out = StringIO()
    answers = iter([False, False, True])
    seen_at_prepare = []
    database = Child("database", sleeper(), ready=lambda: next(answers))
    supervisor = Supervisor([database, ("web", sleeper())], out=out, grace_seconds=5)

    def prepare():
        seen_at_prepare.append([c.name for c in supervisor.children if c.process is not None])

    def tick():
        supervisor.request_stop()

    assert supervisor.run(on_tick=tick, prepare=prepare) == 0
    assert seen_at_prepare == [["database"]]
    log = out.getvalue()
    assert log.index("web stopped") < log.index("database stopped")


def test_a_service_that_dies_while_starting_fails_the_start_and_nothing_else_runs():
    out = StringIO()
    crasher = Child("database", [sys.executable, "-c", "raise SystemExit(2)"], ready=lambda: False)
    supervisor = Supervisor([crasher, ("web", sleeper())], out=out, grace_seconds=5)

    with pytest.raises(StartFailed, match="database exited with status 2 while starting"):
        supervisor.run()
    assert supervisor.children[1].process is None


def test_with_restarts_a_dead_child_is_restarted_after_a_backoff_and_the_others_keep_running(tmp_path):
    out, marker = StringIO(), tmp_path / "ran-once"
    # Dies the first time, then runs: a transient crash.
    flaky = [sys.executable, "-c", f"import pathlib, sys, time; p = pathlib.Path({str(marker)!r})\n"
             "if not p.exists(): p.touch(); sys.exit(3)\ntime.sleep(60)"]
    supervisor = Supervisor([("steady", sleeper()), ("flaky", flaky)], out=out, grace_seconds=5, restart=True,
                            backoff_seconds=0.1)
    steady_pids, ticks = [], []

    def tick():
        ticks.append(1)
        steady_pids.append(supervisor.children[0].process.pid)
        if "started flaky" in out.getvalue().split("restarting it in 0.1s", 1)[-1] and len(ticks) > 3:
            supervisor.request_stop()

    assert supervisor.run(on_tick=tick) == 0
    log = out.getvalue()
    assert "flaky exited with status 3; restarting it in 0.1s" in log
    assert log.count("started flaky") == 2
    assert len(set(steady_pids)) == 1  # never stopped


def test_with_restarts_a_child_that_keeps_dying_quickly_stops_everything_and_says_why():
    out = StringIO()
    supervisor = Supervisor([("sleeper", sleeper()), ("crasher", [sys.executable, "-c", "raise SystemExit(3)"])],
                            out=out, grace_seconds=5, restart=True, backoff_seconds=0.01)

    assert supervisor.run() == 1

    log = out.getvalue()
    assert log.count("started crasher") == 5
    assert "restarting it in 0.01s" in log and "restarting it in 0.08s" in log  # doubling
    assert "crasher exited 5 times within 60s (last status 3); giving up" in log
    assert all(child.process.poll() is not None for child in supervisor.children)
