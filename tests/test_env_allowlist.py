"""One filter decides every command's environment: an allowlist, tested against a table of
names that must and must not pass, and through the real commands that use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import load_config
from app.engine.process import EnvPolicy, command_env, run_command
from app.env_names import looks_secret
from app.errors import UsageError

SOURCE = {
    # secret-looking: never passed from `[session] env`
    "OPENAI_KEY": "v-openai", "DB_PASS": "v-dbpass", "GITHUB_PAT": "v-pat",
    "DATABASE_URL": "v-dburl", "STRIPE_SK": "v-stripe", "SLACK_WEBHOOK_URL": "v-slack",
    "ANTHROPIC_API_KEY": "v-ant", "AWS_SECRET_ACCESS_KEY": "v-aws", "GITHUB_TOKEN": "v-gh",
    "MYSQLPASSWORD": "v-mysql", "HTTP_AUTH": "v-auth", "SSH_PRIVATE_KEY": "v-ssh",
    # code-injecting: not passed unless listed
    "PYTHONPATH": "/evil", "PYTHONSTARTUP": "/evil.py", "NODE_OPTIONS": "--require x",
    "LD_PRELOAD": "/evil.so", "BASH_ENV": "/evil.sh",
    # ordinary
    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm",
    "GIT_AUTHOR_NAME": "Ada", "KEYBOARD_LAYOUT": "us", "AUTHOR": "Ada", "HOME": "/home/u",
    "TMPDIR": "/var/tmp", "CUDA_VISIBLE_DEVICES": "0", "USER": "u",
}

MUST_NOT_PASS_EVEN_IF_LISTED = ["OPENAI_KEY", "DB_PASS", "GITHUB_PAT", "DATABASE_URL",
                                "STRIPE_SK", "SLACK_WEBHOOK_URL", "ANTHROPIC_API_KEY",
                                "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "MYSQLPASSWORD",
                                "HTTP_AUTH", "SSH_PRIVATE_KEY"]
NOT_BY_DEFAULT = ["PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "LD_PRELOAD", "BASH_ENV",
                  "GIT_AUTHOR_NAME", "CUDA_VISIBLE_DEVICES", "USER", "KEYBOARD_LAYOUT"]
ALWAYS = ["PATH", "LANG", "LC_ALL", "TERM"]


def env_for(policy: EnvPolicy, agent_names: tuple[str, ...] = ()) -> dict[str, str]:
    return command_env(policy, home="/private/home", tmpdir="/private/tmp", source=SOURCE,
                       agent_names=agent_names)


@pytest.mark.parametrize("name", MUST_NOT_PASS_EVEN_IF_LISTED)
def test_secret_looking_names_never_pass_from_the_passthrough(name: str) -> None:
    assert looks_secret(name)
    assert name not in env_for(EnvPolicy()), name
    assert name not in env_for(EnvPolicy(passthrough=(name,))), name


@pytest.mark.parametrize("name", MUST_NOT_PASS_EVEN_IF_LISTED)
def test_env_secrets_pass_a_secret_by_its_exact_name(name: str) -> None:
    env = env_for(EnvPolicy(secrets=(name,)))
    assert env[name] == SOURCE[name]
    others = set(MUST_NOT_PASS_EVEN_IF_LISTED) - {name}
    assert not others & env.keys()


@pytest.mark.parametrize("name", NOT_BY_DEFAULT)
def test_other_names_pass_only_when_listed(name: str) -> None:
    assert name not in env_for(EnvPolicy())
    assert env_for(EnvPolicy(passthrough=(name,)))[name] == SOURCE[name]


@pytest.mark.parametrize("name", ["GIT_AUTHOR_NAME", "KEYBOARD_LAYOUT", "AUTHOR", "PATH",
                                  "CUDA_VISIBLE_DEVICES", "MONKEY_COUNT", "TURKEY"])
def test_names_that_merely_contain_a_secret_word_are_not_secrets(name: str) -> None:
    assert not looks_secret(name)


def test_base_names_pass_and_home_and_tmpdir_are_private() -> None:
    env = env_for(EnvPolicy())
    for name in ALWAYS:
        assert env[name] == SOURCE[name]
    assert env["HOME"] == "/private/home" and env["TMPDIR"] == "/private/tmp"
    assert set(env) == {*ALWAYS, "HOME", "TMPDIR"}


def test_agent_names_reach_only_the_command_that_asks_for_them() -> None:
    env = env_for(EnvPolicy(), agent_names=("ANTHROPIC_API_KEY",))
    assert env["ANTHROPIC_API_KEY"] == "v-ant"
    assert "ANTHROPIC_API_KEY" not in env_for(EnvPolicy())


def test_a_real_command_sees_only_the_allowlist(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SOURCE.items():
        if name not in ("PATH", "HOME", "TMPDIR"):
            monkeypatch.setenv(name, value)
    result = run_command("env", tmp_path, 10, policy=EnvPolicy(
        passthrough=("GIT_AUTHOR_NAME", *MUST_NOT_PASS_EVEN_IF_LISTED)))
    assert result.ok
    names = {line.split("=", 1)[0] for line in result.output.splitlines() if "=" in line}
    assert "GIT_AUTHOR_NAME" in names
    assert not names & set(MUST_NOT_PASS_EVEN_IF_LISTED)
    assert not names & {"PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "LD_PRELOAD"}
    home = next(line for line in result.output.splitlines() if line.startswith("HOME="))
    assert home != "HOME=" + str(Path.home()), "HOME is a private folder"


def test_a_secret_in_session_env_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text('[metric]\ncommand = "true"\n\n[session]\nenv = ["DATABASE_URL"]\n')
    with pytest.raises(UsageError, match="DATABASE_URL.*env_secrets"):
        load_config(path)
    path.write_text('[metric]\ncommand = "true"\n\n[session]\nenv_secrets = ["DATABASE_URL"]'
                    '\nenv = ["GIT_AUTHOR_NAME"]\n')
    config = load_config(path)
    assert config.session.env_secrets == ["DATABASE_URL"]
