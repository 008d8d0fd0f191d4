"""The config schema, its errors, and config.example.toml documenting every key."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path

import pytest

from app.config import Config, UserConfig, load_config, load_user_config
from app.errors import UsageError

ROOT = Path(__file__).parents[1]


def schema_keys(cls: type, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if cls is Config and f.name == "path":  # where the file was read, not a key
            continue
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = tp if dataclasses.is_dataclass(tp) else (args[0] if args else None)
        if typing.get_origin(tp) is list and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            keys |= schema_keys(typing.get_args(tp)[0], f"{prefix}{f.name}.")
        elif inner is not None and dataclasses.is_dataclass(inner):
            keys |= schema_keys(inner, f"{prefix}{f.name}.")
        else:
            keys.add(f"{prefix}{f.name}")
    return keys


def documented_keys(text: str) -> set[str]:
    """Keys set or shown commented-out (`# key = ...`) in the example, with their table."""
    keys: set[str] = set()
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") or line.startswith("# [["):
            table = line.lstrip("# ").strip("[]")
            continue
        body = line[1:].strip() if line.startswith("#") else line
        if "=" in body and not body.startswith(("e.g", "#")):
            name = body.split("=", 1)[0].strip()
            if name.isidentifier():
                keys.add(f"{table}.{name}")
    return keys


def test_example_documents_every_key_and_nothing_else() -> None:
    text = (ROOT / "config.example.toml").read_text()
    assert documented_keys(text) == schema_keys(Config)


def test_example_loads(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.metric.direction == "lower" and config.agent.kind == "anthropic"
    assert tomllib.loads((ROOT / "config.example.toml").read_text())


def test_minimal_config_gets_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text('[metric]\ncommand = "./bench"\n')
    config = load_config(path)
    assert (config.metric.repeats, config.metric.calibration_runs, config.decide.alpha) == (
        3, 5, 0.05)
    assert config.agent.anthropic.model == "claude-sonnet-5-5"


@pytest.mark.parametrize("text, message", [
    ('[metric]\ncommand = "x"\n[guard]\nprotect = []\n', "did you mean `guard.protected`"),
    ('[metric]\ncommand = "x"\nrepeats = 0\n', "metric.repeats` must be at least 1"),
    ('[metric]\ncommand = "x"\nrepeats = 5\nmax_repeats = 3\n', "max_repeats` must be at least"),
    ('[metric]\ncommand = "x"\n[decide]\nalpha = 1.5\n', "between 0 and 1"),
    ('[metric]\ncommand = "x"\n[agent]\nkind = "command"\n', "{prompt_file}"),
    ('[metric]\ncommand = "x"\n[[guard.metric]]\nname = "mem"\n', "max_increase or"),
    ('[metric]\ncommand = "x"\n[session]\ntag = "a b"\n', "not a valid session tag"),
    ('[metric]\ncommand = "x"\n[session]\nlink = ".venv"\n', "must be a list"),
    ('[metric]\ncommand = "x"\n[checks]\ntimeout_s = true\n', "must be a number"),
    ('metric = 3\n', "`metric` must be a table"),
])
def test_errors_name_the_file_the_key_and_the_fix(tmp_path: Path, text: str,
                                                  message: str) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_user_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\npause = "space"\n[ui]\ntheme = "nord"\n')
    config = load_user_config(path)
    assert config == UserConfig(keymap={"pause": "space"}, ui=config.ui)
    assert config.ui.theme == "nord"
    path.write_text('[ui]\ncolour = "x"\n')
    with pytest.raises(UsageError, match="unknown key `ui.colour`"):
        load_user_config(path)


CONFIG_USING_EVERY_SHARED_RULE = '''\
[metric]
command = "python3 bench.py"
name = "score"
unit = "ms"
kind = "time"

[session]
tag = "nov29"
env = ["MY_SETTING"]

[guard]
outside_clock = true
'''


def test_loading_a_config_imports_nothing_of_the_engine(tmp_path: Path) -> None:
    # The layering (DESIGN.md): the config validates with the shared rules (tags, metric
    # units and formats, secret-looking names), never by importing the engine's modules.
    # Both a config that passes and ones stopped by each shared rule are loaded.
    import subprocess
    import sys

    good = tmp_path / "good.toml"
    good.write_text(CONFIG_USING_EVERY_SHARED_RULE)
    bad = {"secret": CONFIG_USING_EVERY_SHARED_RULE.replace('"MY_SETTING"', '"DB_PASSWORD"'),
           "tag": CONFIG_USING_EVERY_SHARED_RULE.replace('"nov29"', '"../x"'),
           "path": CONFIG_USING_EVERY_SHARED_RULE.replace('kind = "time"',
                                                           'format = "json"\npath = "a..b"')}
    for name, text in bad.items():
        (tmp_path / f"{name}.toml").write_text(text)
    script = (
        "import sys\nfrom pathlib import Path\nfrom app.config import load_config\n"
        "from app.errors import UsageError\n"
        f"load_config(Path({str(good)!r}))\n"
        f"for name in {sorted(bad)!r}:\n"
        "    try:\n"
        f"        load_config(Path({str(tmp_path)!r}) / f'{{name}}.toml')\n"
        "    except UsageError as exc:\n"
        "        print('refused', name, exc)\n"
        "print(sorted(m for m in sys.modules if m.startswith('app.engine')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["path", "secret", "tag"], lines
    assert lines[-1] == "[]", f"the config imported the engine: {lines[-1]}"
