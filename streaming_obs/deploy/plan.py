"""`streaming-obs deploy --env <env> --dry-run`: what a deploy would do, and whether it can.

A plan names the bundle target (or, for `local`, spark-submit), the sources and how they are
read, the tables bootstrap creates, the governance statements (row filters, masks, grants) and
the commands to run, and checks the prerequisites that can be checked offline. Nothing is
contacted: a Databricks workspace is not reachable from where the plan is made.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from streaming_obs.errors import ConfigError, StreamingObsError

if TYPE_CHECKING:
    from streaming_obs.config.models import Settings

__all__ = ["Check", "Plan", "deploy_plan", "DATABRICKS_ENVS"]

#: Environments deployed as a Databricks bundle target of the same name.
DATABRICKS_ENVS = ("dev", "staging", "prod")
_PERSISTENT = ("/Volumes/", "dbfs:/", "s3://", "s3a://", "abfss://", "gs://", "wasbs://")


@dataclass(frozen=True)
class Check:
    """One prerequisite: passed or not, why, and whether a failure blocks the deploy."""

    name: str
    ok: bool
    detail: str
    blocking: bool = True


@dataclass
class Plan:
    """What deploying one environment would do."""

    env: str
    target: str | None
    runner: str
    sources: list[tuple[str, str, str]] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    checkpoints: str = ""
    governance: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no blocking check failed."""
        return all(c.ok or not c.blocking for c in self.checks)

    @property
    def grants(self) -> list[str]:
        """The GRANT statements among the governance statements."""
        return [s for s in self.governance if s.startswith("GRANT ")]

    def render(self) -> str:
        """The plan as text for a terminal (one item a line, no colours)."""
        out = [f"deploy plan: env {self.env} -> {self.runner}" + (f" (bundle target {self.target})" if self.target else "")]
        out.append("sources:")
        out += [f"  {name:<22} {where}  [{mode}]" for name, where, mode in self.sources]
        out.append(f"tables (created if absent): {len(self.tables)}")
        out += [f"  {t}" for t in self.tables]
        out.append(f"checkpoints: {self.checkpoints}")
        if self.governance:
            filters = [s for s in self.governance if "SET ROW FILTER" in s]
            masks = [s for s in self.governance if "SET MASK" in s]
            out.append(
                f"governance: {len(filters)} row filters, {len(masks)} column masks, {len(self.grants)} grants "
                f"(`streaming-obs govern --env {self.env} --dry-run` prints the SQL)"
            )
            out += [f"  {g}" for g in self.grants]
        else:
            out.append("governance: none (no Unity Catalog; governance.mask_pii hashes PII in silver)")
        out.append("commands:")
        out += [f"  {c}" for c in self.commands]
        out.append("prerequisites:")
        for c in self.checks:
            mark = "ok  " if c.ok else ("FAIL" if c.blocking else "warn")
            out.append(f"  [{mark}] {c.name}: {c.detail}")
        out.append("result: ready" if self.ok else "result: NOT ready (fix the FAIL lines)")
        return "\n".join(out)


def deploy_plan(
    settings: Settings,
    *,
    bundle_root: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    cli_check: Callable[[list[str]], str | None] | None = None,
) -> Plan:
    """Plan the deploy of `settings.env` and check its prerequisites offline.

    Args:
        settings: the environment to deploy.
        bundle_root: directory of `databricks.yml` (default: found from the current directory).
        environ: environment variables to check (default ``os.environ``).
        cli_check: parses the bundle jobs' CLI arguments and returns a problem or None (see
            `check_bundle`); None skips that check.

    Returns:
        The plan; `plan.ok` tells whether every blocking prerequisite holds.

    Raises:
        ConfigError: `prod` with the simulator source (refused outright, not merely flagged).
    """
    from streaming_obs.bootstrap import ddl_statements
    from streaming_obs.tables import Tables

    env = os.environ if environ is None else environ
    if settings.env == "prod" and settings.source_kind == "simulator":
        raise ConfigError("conf/prod.yaml", "source_kind", "prod refuses the simulator source; set source_kind: system_tables")
    on_databricks = settings.env in DATABRICKS_ENVS
    tables = Tables(settings)
    plan = Plan(
        env=settings.env,
        target=settings.env if on_databricks else None,
        runner="Databricks continuous job" if on_databricks else "spark-submit.sh / local Spark",
        sources=[(name, src.table or tables.source(name).path or "", src.mode) for name, src in settings.sources.items()],
        tables=[_created(s) for s in ddl_statements(tables) if s.startswith("CREATE TABLE")],
        checkpoints=settings.storage.checkpoints,
    )
    plan.checks.append(_source_check(settings, on_databricks))
    if on_databricks:
        plan.checks += _databricks_checks(settings, plan, bundle_root, env, cli_check)
    else:
        plan.checks += _local_checks(settings)
        plan.commands = [
            f"streaming-obs simulate --env {settings.env}" if settings.source_kind == "simulator" else "",
            f"./spark-submit.sh --master <spark://host:7077 | local[*]> -- run --env {settings.env}",
        ]
        plan.commands = [c for c in plan.commands if c]
    if settings.governance.mask_pii:
        name = settings.governance.pii_salt_env
        if on_databricks:
            wired = name in _job_env_vars(bundle_root, settings.env)
            plan.checks.append(Check("pii salt", wired, f"${name} {'is' if wired else 'is not'} wired from a secret "
                                     f"in bundle target {settings.env} (databricks.yml, target {settings.env})"))
        else:
            plan.checks.append(Check("pii salt", bool(env.get(name)), f"${name} {'is set' if env.get(name) else 'is not set'}"))
    return plan


def _created(statement: str) -> str:
    head = statement.split("(", 1)[0]
    return head.replace("CREATE TABLE IF NOT EXISTS", "").strip()


def _source_check(settings: Settings, on_databricks: bool) -> Check:
    if on_databricks and settings.source_kind == "simulator":
        return Check("source", False, f"{settings.env} reads the simulator; Databricks targets read system tables")
    bad = [n for n, s in settings.sources.items() if on_databricks and not (s.table or "").startswith("system.")]
    modes = [n for n, s in settings.sources.items() if on_databricks and s.mode == "cdf"]
    if bad or modes:
        return Check("source", False, f"not system.* tables: {bad}; cdf mode (unsupported on system tables): {modes}")
    return Check("source", True, f"{settings.source_kind} ({len(settings.sources)} tables)")


def _databricks_checks(settings: Settings, plan: Plan, bundle_root, env,
                       cli_check: Callable[[list[str]], str | None] | None) -> list[Check]:
    from streaming_obs.deploy.bundle import check_bundle, find_bundle_root
    from streaming_obs.deploy.governance import governance_statements

    checks = []
    uc = bool(settings.catalog) and settings.storage.use_metastore
    checks.append(Check("unity catalog", uc, f"catalog {settings.catalog!r}, use_metastore {settings.storage.use_metastore}"))
    cp = settings.storage.checkpoints
    checks.append(Check("checkpoints", cp.startswith(_PERSISTENT), f"{cp} (must outlive the cluster: a UC volume or cloud storage)"))
    if uc:
        try:
            plan.governance = governance_statements(settings)
        except StreamingObsError as exc:
            checks.append(Check("governance", False, str(exc)))
    root = Path(bundle_root) if bundle_root else find_bundle_root()
    has_bundle = root is not None and (root / "databricks.yml").is_file()
    if not has_bundle:
        where = root or f"{Path.cwd()} or above"
        checks.append(Check("bundle", False, f"no databricks.yml in {where}: the bundle deploys from a checkout of "
                            "the repository (databricks.yml, resources/, setup.py); run there or pass --bundle-root"))
    else:
        problems = check_bundle(root, cli_check=cli_check)
        targets = _bundle_targets(root)
        if settings.env not in targets:
            problems.append(f"no target {settings.env!r}")
        checks.append(Check("bundle", not problems, "; ".join(problems) or f"{root / 'databricks.yml'} target {settings.env}"))
    has_cli = shutil.which("databricks") is not None
    checks.append(Check("databricks CLI", has_cli, "found" if has_cli else "not on PATH (needed for `databricks bundle deploy`)", blocking=False))
    if settings.env != "dev":
        principal = env.get("BUNDLE_VAR_service_principal") or _target_variable(root, settings.env, "service_principal")
        checks.append(Check("run as", bool(principal),
                            (f"service principal {principal}" if principal else
                             "no service principal: export BUNDLE_VAR_service_principal=<application id> (or pass "
                             "--var service_principal=... to databricks bundle deploy)")
                            + f"; it must be in {settings.governance.admin_group} (row filters hide other rows from the writer)"))
    if settings.telemetry.otlp.enabled and not settings.telemetry.otlp.endpoint and has_bundle:
        # Without a bundle nothing says where the endpoint comes from; the bundle check says why.
        wired = "OTEL_EXPORTER_OTLP_ENDPOINT" in _job_env_vars(root, settings.env)
        checks.append(Check("otlp endpoint", wired, "from OTEL_EXPORTER_OTLP_ENDPOINT in the job" if wired else "no endpoint configured"))
    var = " --var service_principal=<application id>" if settings.env != "dev" else ""
    plan.commands = [
        "python -m build --wheel",
        f"databricks bundle validate -t {settings.env}",
        f"databricks bundle deploy -t {settings.env}{var}",
        f"streaming-obs govern --env {settings.env} --apply   # after the first run created the tables",
    ]
    return checks


def _local_checks(settings: Settings) -> list[Check]:
    from streaming_obs.session import java_major_version

    version = java_major_version()
    checks = [Check("java", version is not None and version >= 17, f"Java {version}" if version else "Java not found")]
    wh = Path(settings.storage.warehouse).resolve()
    parent = next((p for p in (wh, *wh.parents) if p.exists()), None)
    checks.append(Check("warehouse", parent is not None and os.access(parent, os.W_OK), f"{wh} writable"))
    jars = settings.spark.jars
    checks.append(Check("delta", True, f"jars {jars}" if jars else f"--packages {settings.spark.delta_package} (Maven Central)"))
    return checks


def _bundle_targets(root: Path) -> set[str]:
    from streaming_obs.deploy.bundle import load_bundle

    try:
        return set((load_bundle(root).get("targets") or {}))
    except (OSError, ValueError):
        return set()


def _target_variable(root: Path | None, target: str, name: str) -> str:
    """A bundle variable's value for `target` (target override, else default); "" if unknown."""
    from streaming_obs.deploy.bundle import load_bundle

    if root is None:
        return ""
    try:
        bundle = load_bundle(root)
    except (OSError, ValueError):
        return ""
    value = (((bundle.get("targets") or {}).get(target) or {}).get("variables") or {}).get(name)
    if value is None:
        value = ((bundle.get("variables") or {}).get(name) or {}).get("default")
    return str(value or "")


def _job_env_vars(root, target: str) -> set[str]:
    from streaming_obs.deploy.bundle import find_bundle_root, job_env_vars, load_bundle

    root = Path(root) if root else find_bundle_root()
    if root is None:
        return set()
    try:
        return job_env_vars(load_bundle(root), target)
    except (OSError, ValueError):
        return set()
