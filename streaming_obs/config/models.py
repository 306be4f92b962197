"""Typed configuration. Every model rejects unknown keys so a typo is an error, not a silent default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streaming_obs.identifiers import validate_identifier, validate_path

__all__ = [
    "SOURCE_NAMES",
    "Settings",
    "SourceConfig",
    "SchemasConfig",
    "StorageConfig",
    "SparkConfig",
    "TriggerConfig",
    "TelemetryConfig",
    "OtlpConfig",
    "PrometheusConfig",
    "QualityConfig",
    "CostConfig",
    "SimulatorConfig",
    "LoggingConfig",
    "ResilienceConfig",
    "MaintenanceConfig",
    "GovernanceConfig",
]

#: The Databricks system tables the pipeline reads, by our short name.
SOURCE_NAMES: tuple[str, ...] = (
    "billing_usage",
    "list_prices",
    "jobs",
    "job_run_timeline",
    "job_task_run_timeline",
    "clusters",
    "node_timeline",
    "warehouses",
    "query_history",
    "audit",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchemasConfig(_Model):
    """Schema (database) names of the four layers."""

    bronze: str = "plt_bronze"
    silver: str = "plt_silver"
    gold: str = "plt_gold"
    ops: str = "plt_ops"

    @field_validator("bronze", "silver", "gold", "ops")
    @classmethod
    def _ident(cls, v: str) -> str:
        return validate_identifier(v)


class StorageConfig(_Model):
    """Where tables and checkpoints live. Locally every table is `<warehouse>/<schema>/<table>`."""

    warehouse: str = ".streaming_obs/warehouse"
    checkpoints: str = ".streaming_obs/checkpoints"
    use_metastore: bool = False

    @field_validator("warehouse", "checkpoints")
    @classmethod
    def _path(cls, v: str) -> str:
        return validate_path(v)


class SparkConfig(_Model):
    """How the Spark session is built when streaming_obs builds it (not on Databricks)."""

    master: str = "local[*]"
    app_name: str = "streaming_obs"
    shuffle_partitions: int = Field(4, ge=1, le=10_000)
    delta_package: str = "io.delta:delta-spark_4.2_2.13:4.4.0"
    jars: list[str] = Field(default_factory=list)
    conf: dict[str, str] = Field(default_factory=dict)
    ui: bool = False


class SourceConfig(_Model):
    """One system table: where it is and how it is read."""

    table: str | None = None
    path: str | None = None
    mode: Literal["cdf", "append", "snapshot"] = "cdf"
    snapshot_interval_seconds: int = Field(300, ge=1)
    max_files_per_trigger: int | None = Field(None, ge=1)
    # Delta's maxBytesPerTrigger, e.g. "256m": a soft cap (a batch always takes at least one file).
    max_bytes_per_trigger: str | None = Field(None, pattern=r"^[0-9]+[kmgKMG]?[bB]?$")
    starting_version: int | None = Field(None, ge=0)

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        return None if v is None else validate_identifier(v, dotted=True)

    @field_validator("path")
    @classmethod
    def _src_path(cls, v: str | None) -> str | None:
        return None if v is None else validate_path(v)

    @model_validator(mode="after")
    def _one_location(self) -> SourceConfig:
        if (self.table is None) == (self.path is None):
            raise ValueError("give exactly one of 'table' (metastore name) or 'path' (Delta path)")
        return self


class TriggerConfig(_Model):
    """Micro-batch trigger of every query."""

    interval_seconds: float = Field(10, gt=0)
    available_now: bool = False


class OtlpConfig(_Model):
    """OTLP export; the standard OTEL_EXPORTER_OTLP_* variables fill what is left empty."""

    enabled: bool = False
    endpoint: str | None = None
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    insecure: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(5, gt=0)


class PrometheusConfig(_Model):
    """Prometheus scrape endpoint served by the driver."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535)


class TelemetryConfig(_Model):
    """OpenTelemetry metrics of the pipeline and of the key cost figures."""

    service_name: str = "streaming_obs"
    export_interval_seconds: float = Field(10, gt=0)
    otlp: OtlpConfig = OtlpConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    cost_metrics_interval_seconds: float = Field(60, gt=0)
    breaker_failure_threshold: int = Field(3, ge=1)
    breaker_reset_seconds: float = Field(30, gt=0)
    # Added by the telemetry module (docs/metrics.md describes each).
    breaker_call_timeout_seconds: float = Field(3, gt=0)
    worker_queue_size: int = Field(10_000, ge=10)
    cost_metrics_enabled: bool = True
    cost_top_n: int = Field(20, ge=1, le=1000)
    anomaly_open_days: int = Field(2, ge=1, le=90)
    backlog_probe_seconds: float = Field(15, ge=0)


class QualityConfig(_Model):
    """Data-quality rules, loaded from package data unless `rules_file` is a path."""

    rules_file: str = "quality_rules.yaml"
    enabled: bool = True


class AnomalyConfig(_Model):
    """Daily cost anomaly detection against the previous days of the same key."""

    baseline_days: int = Field(7, ge=2, le=90)
    z_threshold: float = Field(3.0, gt=0)
    min_list_cost: float = Field(1.0, ge=0)


class CostConfig(_Model):
    """Cost allocation."""

    tag_keys: list[str] = Field(default_factory=lambda: ["team", "cost_center", "project"])
    untagged_value: str = "(untagged)"
    anomaly: AnomalyConfig = AnomalyConfig()


class SimulatorConfig(_Model):
    """The embedded default: a simulator of the Databricks system tables."""

    root: str = ".streaming_obs/system"
    seed: int = 42
    workspaces: int = Field(4, ge=1, le=1000)
    jobs: int = Field(300, ge=1)
    clusters: int = Field(200, ge=1)
    warehouses: int = Field(12, ge=1)
    days: int = Field(14, ge=1, le=3650)
    rows_per_second: float = Field(50, gt=0)
    flush_seconds: float = Field(5, gt=0)

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        return validate_path(v)


class LoggingConfig(_Model):
    """Logging of the entry point (the library itself never configures the root logger)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(False, alias="json")
    #: directory of per-run log files; set, the terminal shows WARNING and up only (unset: all
    #: to stderr, the right thing where a platform collects the driver's output)
    dir: str | None = None


class ResilienceConfig(_Model):
    """Supervisor restarts and retries inside a batch."""

    max_restarts: int = Field(5, ge=0)
    backoff_initial_seconds: float = Field(2, gt=0)
    backoff_max_seconds: float = Field(60, gt=0)
    write_retries: int = Field(5, ge=1)
    stop_timeout_seconds: float = Field(60, gt=0)


class MaintenanceConfig(_Model):
    """OPTIMIZE / VACUUM of our own tables."""

    optimize_write: bool = True
    auto_compact: bool = True
    vacuum_retention_hours: int = Field(168, ge=168)
    schedule_minutes: int | None = Field(None, ge=1)
    clustering: dict[str, list[str]] = Field(default_factory=dict)


class GovernanceConfig(_Model):
    """Unity Catalog row filters / column masks and local PII masking."""

    mask_pii: bool = False
    pii_salt_env: str = "STREAMING_OBS_PII_SALT"
    workspace_map_table: str = "workspace_access"
    admin_group: str = "streaming_obs_admins"
    # Added by deploy/governance (docs/deployment.md): who reads gold and silver, and which
    # columns hold identities (hashed after lower/trim) or free text (hashed as is). Dotted
    # names reach into structs; mask_pii skips names a table does not have.
    reader_group: str = "streaming_obs_readers"
    email_columns: list[str] = Field(
        default_factory=lambda: [
            "executed_by",
            "executed_as",
            "owned_by",
            "run_as_user_name",
            "creator_user_name",
            "user_identity.email",
            "user_identity.subject_name",
            "identity_metadata.run_as",
            "identity_metadata.run_by",
            "identity_metadata.created_by",
            "identity_metadata.owned_by",
            "identity_metadata.run_as_display_name",
            "identity_metadata.run_by_display_name",
        ]
    )
    text_columns: list[str] = Field(default_factory=lambda: ["statement_text"])

    @field_validator("workspace_map_table", "admin_group", "reader_group")
    @classmethod
    def _ident(cls, v: str) -> str:
        return validate_identifier(v)

    @field_validator("email_columns", "text_columns")
    @classmethod
    def _columns(cls, v: list[str]) -> list[str]:
        return [validate_identifier(c, dotted=True) for c in v]


class Settings(_Model):
    """The whole configuration of one environment."""

    env: str = "local"
    catalog: str | None = None
    schemas: SchemasConfig = SchemasConfig()
    storage: StorageConfig = StorageConfig()
    spark: SparkConfig = SparkConfig()
    trigger: TriggerConfig = TriggerConfig()
    sources: dict[str, SourceConfig]
    source_kind: Literal["simulator", "system_tables"] = "simulator"
    telemetry: TelemetryConfig = TelemetryConfig()
    quality: QualityConfig = QualityConfig()
    cost: CostConfig = CostConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    logging: LoggingConfig = LoggingConfig()
    resilience: ResilienceConfig = ResilienceConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()
    governance: GovernanceConfig = GovernanceConfig()

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, v: str | None) -> str | None:
        return None if v is None else validate_identifier(v)

    @field_validator("sources")
    @classmethod
    def _all_sources(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        unknown = sorted(set(v) - set(SOURCE_NAMES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {list(SOURCE_NAMES)}")
        missing = sorted(set(SOURCE_NAMES) - set(v))
        if missing:
            raise ValueError(f"missing source(s) {missing}")
        return v

    @model_validator(mode="after")
    def _prod_needs_real_sources(self) -> Settings:
        if self.env == "prod" and self.source_kind == "simulator":
            raise ValueError("prod refuses the simulator source; set source_kind: system_tables")
        return self
