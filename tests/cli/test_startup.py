"""Start-up of the ``helmforge`` command: what each command imports, ``--version``, help text.

The import checks run the command in a fresh interpreter and read its ``sys.modules``: they
are deterministic (no timing) and fail when a command starts pulling in modules it does not
use, which is what makes a cold start slow (DESIGN goal: ``--help`` <= 150 ms, one chart
<= 300 ms; ``make bench`` measures the times).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from helmforge.cli.main import COMMAND_MODULES, app
from tests.support.charts import EXAMPLE

HELMFORGE = Path(sys.executable).with_name("helmforge")
CONTEXT = [
    "--product", "shop", "--customer", "acme", "--environment", "prod",
    "--instance", "a1", "--version", "2.4.1",
]  # fmt: skip

# Runs the console-script entry point on the arguments given, then prints the names of every
# module it imported (also when the command ends with SystemExit, as --help does).
_LIST_MODULES = """
import json, sys
from helmforge.cli.main import run
sys.argv = ["helmforge", *sys.argv[1:]]
try:
    run()
except SystemExit:
    pass
sys.stdout.write("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""

#: Needed by no command's help, nor by generating or validating from a file.
NEVER_FOR_FILES = (
    "rich",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "prometheus_client",
    "helm_sdkpy",
    "kubernetes",
    "helmforge.server",
    "helmforge.api",
    "helmforge.web",
    "helmforge.adapters.storage",
    "helmforge.adapters.oci",
    "helmforge.adapters.git",
)
#: Help texts are written by the CLI modules alone: no service, adapter or parser behind them,
#: and no pydantic (Typer's coercion imports it for the first parameter it parses; a help
#: flag given is already a bool, and so is every group's --help when it is not given).
NEVER_FOR_HELP = (
    *NEVER_FOR_FILES,
    "pydantic",
    "helmforge.services",
    "helmforge.adapters",
    "helmforge.core.templates",
    "helmforge.core.charts",
    "helmforge.core.schemas",
    "yaml",
    "jsonschema",
)


def _imported(*arguments: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _, marker, listed = result.stdout.rpartition("\nMODULES ")
    assert marker, result.stdout + result.stderr
    return set(json.loads(listed))


def _pulled(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        name for name in modules if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    )


def test_top_level_help_imports_neither_rich_nor_pydantic_nor_any_service() -> None:
    modules = _imported("--help")
    assert _pulled(modules, NEVER_FOR_HELP) == []
    assert {f"helmforge.cli.{name}" for name in COMMAND_MODULES} <= modules


def test_version_imports_neither_rich_nor_pydantic_nor_any_command_service() -> None:
    assert _pulled(_imported("--version"), NEVER_FOR_HELP) == []


@pytest.mark.parametrize(
    "command",
    [
        ["generate"],
        ["package"],
        ["lint"],
        ["template"],
        ["template", "validate"],
        ["template", "init"],
        ["push"],
        ["versions"],
        ["serve"],
        ["migrate"],
        ["build"],
        ["users", "create"],
        ["tokens", "create"],
        ["import"],
        ["catalog", "list"],
        ["schemas", "import"],
        ["bindings", "add"],
        ["bindings", "list"],
        ["policy", "import"],
        ["policy", "export"],
        ["can"],
        ["changes", "list"],
        ["changes", "show"],
        ["changes", "approve"],
        ["instances", "create"],
        ["instances", "list"],
        ["instances", "promote"],
        ["values", "set"],
        ["values", "history"],
        ["gitops", "add-repository"],
        ["argocd", "add-server"],
        ["argocd", "applicationset"],
        ["instances", "sync"],
    ],
    ids=" ".join,
)
def test_command_help_imports_only_the_cli_module_of_that_command_and_no_pydantic(
    command: list[str],
) -> None:
    modules = _imported(*command, "--help")
    assert _pulled(modules, NEVER_FOR_HELP) == []
    wanted = {name for name, commands in COMMAND_MODULES.items() if command[0] in commands}
    if "catalog" in wanted:  # it adds `template init` to the `template` group of templates
        wanted.add("templates")
    loaded = {name for name in COMMAND_MODULES if f"helmforge.cli.{name}" in modules}
    assert loaded == wanted


def test_generating_one_chart_from_a_file_imports_no_store_server_or_registry(
    tmp_path: Path,
) -> None:
    modules = _imported("generate", str(EXAMPLE), *CONTEXT, "--out", str(tmp_path))
    assert (tmp_path / "shop-acme-prod-a1" / "Chart.yaml").is_file()
    assert _pulled(modules, (*NEVER_FOR_FILES, "jsonschema", "helmforge.services.stores")) == []
    assert "helmforge.services.generation" in modules
    assert "helmforge.cli.publishing" not in modules


def test_validating_a_template_file_imports_no_store_server_or_registry() -> None:
    modules = _imported("template", "validate", str(EXAMPLE))
    assert _pulled(modules, (*NEVER_FOR_FILES, "helmforge.services.stores")) == []
    assert "helmforge.core.templates.parsing" in modules


def test_version_prints_the_installed_package_version() -> None:
    result = subprocess.run(
        [str(HELMFORGE), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"helmforge {version('helmforge')}\n",
        "",
    )


def test_version_after_a_command_is_that_command_s_option() -> None:
    # `generate --version V` is the context's application version, not helmforge's.
    result = CliRunner().invoke(app, ["generate", str(EXAMPLE), "--version", "1.0.0"])
    assert result.exit_code == 2
    assert "Missing option '--out'" in result.stderr


def test_help_keeps_text_in_square_brackets() -> None:
    # Rich markup read `NAME[@VERSION]` as a style tag and printed only `NAME`.
    result = CliRunner().invoke(app, ["generate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "NAME[@VERSION] of a published template" in result.stdout


def _commands(group: typer.core.TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, typer.core.TyperGroup):
            found.extend(_commands(command, (*path, name)))
        else:
            found.append((*path, name))
    return found


def test_every_option_reads_a_helmforge_variable_shown_in_its_help() -> None:
    # DESIGN section 5: every option also reads an environment variable HELMFORGE_*.
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    checked = 0
    for path in _commands(root):
        command: typer.core.TyperCommand | typer.core.TyperGroup = root
        for name in path:
            command = command.commands[name]  # type: ignore[union-attr]
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        for parameter in command.params:
            if parameter.param_type_name != "option" or parameter.opts == ["--help"]:
                continue
            variables = (
                [parameter.envvar] if isinstance(parameter.envvar, str) else parameter.envvar
            )
            assert variables, (path, parameter.opts)
            assert variables[0].startswith("HELMFORGE_"), (path, parameter.opts)
            assert f"env var: {', '.join(variables)}" in result.stdout, (path, parameter.opts)
            checked += 1
    assert checked > 50
