"""`validate-config` and `config schema`: the settings, checked or described, without Spark."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from streaming_obs.cli.common import DEFAULT_ENV, ConfDirOpt, EnvOpt, check_rules, friendly, settings_for
from streaming_obs.config.salt import check_pii_salt

__all__ = ["config_app", "register", "validate_config"]

config_app = typer.Typer(no_args_is_help=True, help="The settings' JSON Schema and reference.")


@friendly
def validate_config(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                    show: Annotated[bool, typer.Option(help="Print the effective settings as JSON.")] = False) -> None:
    """Load and check the configuration (and the quality rules) without starting Spark."""
    from streaming_obs.config import config_hash

    settings = settings_for(env, config_dir)
    check_pii_salt(settings)
    rules = check_rules(settings)
    if show:
        typer.echo(json.dumps(settings.model_dump(mode="json", by_alias=True), indent=2))
    budgets = f", {len(settings.budgets)} budgets" if settings.budgets else ""
    typer.echo(f"config ok: env={settings.env} hash={config_hash(settings)} sources={len(settings.sources)}, {rules}{budgets}")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of a configuration file (base.yaml, <env>.yaml), for editors and CI."""
    from streaming_obs.config.reference import settings_json_schema

    typer.echo(json.dumps(settings_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Attach `validate-config` and the `config` group to `app`."""
    app.command("validate-config")(validate_config)
    app.add_typer(config_app, name="config")
