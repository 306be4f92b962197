"""Typed configuration. Every model rejects unknown keys so a typo is an error, not a silent default."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator

from streaming_obs.identifiers import validate_identifier, validate_path

__all__ = [
    "SOURCE_NAMES",
    "OPTIONAL_SOURCE_NAMES",
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
    "ReconcileConfig",
    "IdleConfig",
    "BudgetConfig",
    "BudgetScope",
    "DEFAULT_BUDGET_THRESHOLDS",
    "SimulatorConfig",
    "LoggingConfig",
    "ResilienceConfig",
    "MaintenanceConfig",
    "GovernanceConfig",
    "KeyedValueError",
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
#: System tables read only when configured under `sources:` (preview, not on every cloud).
#: `account_prices` holds the account's contract prices: gold's `net_cost` and FOCUS
#: ContractedCost come from it; without it they are NULL / the list cost.
OPTIONAL_SOURCE_NAMES: tuple[str, ...] = ("account_prices",)


class KeyedValueError(ValueError):
    """A validation error about a key below the field that is validated (`loc` is relative to it)."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class _Model(BaseModel):
    # NaN and infinity are refused everywhere: `interval_seconds: .inf` would pass `gt=0`.
    # Attribute docstrings become field descriptions: the JSON Schema (`config schema`) and the
    # reference in docs/configuration.md are generated from them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)


class SchemasConfig(_Model):
    """Schema (database) names of the four layers."""

    bronze: str = "plt_bronze"
    """Schema of the bronze tables (raw rows plus ingest metadata)."""
    silver: str = "plt_silver"
    """Schema of the silver tables (latest row per key, SCD2 where documented)."""
    gold: str = "plt_gold"
    """Schema of the gold contract tables (docs/data-dictionary.md)."""
    ops: str = "plt_ops"
    """Schema of the ops tables (batch runs, quality results, quarantine, audit, lineage)."""

    @field_validator("bronze", "silver", "gold", "ops")
    @classmethod
    def _ident(cls, v: str) -> str:
        return validate_identifier(v)


class StorageConfig(_Model):
    """Where tables and checkpoints live. Locally every table is `<warehouse>/<schema>/<table>`."""

    warehouse: str = ".streaming_obs/warehouse"
    """Root of path-based tables: `<warehouse>/<schema>/<table>`."""
    checkpoints: str = ".streaming_obs/checkpoints"
    """One checkpoint directory per query; on Databricks it must outlive the cluster (a UC volume)."""
    use_metastore: bool = False
    """True: tables are `catalog.schema.table` in the metastore (Databricks)."""

    @field_validator("warehouse", "checkpoints")
    @classmethod
    def _path(cls, v: str) -> str:
        return validate_path(v)


class SparkConfig(_Model):
    """How the Spark session is built when streaming_obs builds it (not on Databricks)."""

    master: str = "local[*]"
    """Spark master when streaming_obs builds the session (not on Databricks or under spark-submit)."""
    app_name: str = "streaming_obs"
    """Spark application name of a session streaming_obs builds."""
    shuffle_partitions: int = Field(4, ge=1, le=10_000)
    """`spark.sql.shuffle.partitions` of a session streaming_obs builds."""
    delta_package: str = "io.delta:delta-spark_4.2_2.13:4.4.0"
    """Maven coordinates of Delta Lake, fetched with `--packages` when `jars` is empty."""
    jars: list[str] = Field(default_factory=list)
    """Local Delta jars to use instead of `delta_package` (no Maven Central access)."""
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra Spark settings; they override the small-driver settings streaming_obs sets (docs/performance.md)."""
    ui: bool = False
    """Start the Spark UI of a session streaming_obs builds."""


class SourceConfig(_Model):
    """One system table: where it is and how it is read."""

    table: str | None = None
    """Metastore name of the source table (e.g. `system.billing.usage`); exactly one of `table` and `path`."""
    path: str | None = None
    """Delta path of the source (relative paths are under `simulator.root`); exactly one of `table` and `path`."""
    mode: Literal["cdf", "append", "snapshot"] = "cdf"
    """How the source is read: `cdf` (change data feed), `append` (skipChangeCommits) or `snapshot` (re-read and anti-joined)."""
    snapshot_interval_seconds: int = Field(300, ge=1)
    """Re-read interval of a `snapshot` source."""
    max_files_per_trigger: int | None = Field(None, ge=1)
    """Cap on files per micro-batch (`maxFilesPerTrigger`); null: Delta's default."""
    # Delta's maxBytesPerTrigger, e.g. "256m": a soft cap (a batch always takes at least one file).
    max_bytes_per_trigger: str | None = Field(None, pattern=r"^[0-9]+[kmgKMG]?[bB]?$")
    """Soft cap of bytes per micro-batch (`maxBytesPerTrigger`, e.g. `256m`); null: no cap."""
    starting_version: int | None = Field(None, ge=0)
    """First source version to read (a checkpoint reset after VACUUM); null: from the start."""

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
    """Micro-batch interval of the billing-usage query, which keeps cost_daily: the freshness
    promise rides on it."""
    source_interval_seconds: float = Field(10, gt=0)
    """Micro-batch interval of the other source queries (prices, jobs, clusters, warehouses,
    node timeline, query history, audit), never shorter than `interval_seconds`. They feed the
    slower gold tables; on a small driver, triggering them as often as usage takes the cores
    cost_daily needs (docs/performance.md)."""
    gold_interval_seconds: float = Field(30, gt=0)
    """Micro-batch interval of the gold query (every gold table but cost_daily): slower, so that
    it never delays cost_daily."""
    available_now: bool = False
    """Process what is available, then stop (`Trigger.AvailableNow`)."""


class OtlpConfig(_Model):
    """OTLP export. A value left unset (None, empty) is not passed to the exporter, so the SDK's own
    ``OTEL_EXPORTER_OTLP_[METRICS_]*`` variables (ENDPOINT, INSECURE, TIMEOUT, HEADERS, CERTIFICATE,
    CLIENT_KEY, CLIENT_CERTIFICATE) apply; a value set here wins over them."""

    enabled: bool = False
    """Export metrics over OTLP."""
    endpoint: str | None = None
    """Collector endpoint; null: `OTEL_EXPORTER_OTLP_ENDPOINT`."""
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    """OTLP transport."""
    insecure: bool | None = None
    """gRPC without TLS; unset: the SDK decides (OTEL_EXPORTER_OTLP_INSECURE, else plaintext only
    for an http:// endpoint)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra OTLP headers (API keys, bearer tokens): secrets, never printed, logged or shown by
    `validate-config --show`."""
    timeout_seconds: float | None = Field(None, gt=0)
    """Timeout of one export; unset: OTEL_EXPORTER_OTLP_TIMEOUT, else the SDK's default."""
    certificate: str | None = None
    """PEM file of the CA bundle that signs the collector's certificate."""
    client_key: str | None = None
    """PEM file of the client key for mutual TLS (with client_certificate)."""
    client_certificate: str | None = None
    """PEM file of the client certificate for mutual TLS (with client_key)."""

    @model_validator(mode="after")
    def _client_pair(self) -> OtlpConfig:
        if (self.client_key is None) != (self.client_certificate is None):
            raise ValueError("give both client_key and client_certificate (mutual TLS), or neither")
        return self

    def plaintext(self) -> bool:
        """Whether the config itself asks for plaintext: ``insecure: true`` or an ``http://`` endpoint."""
        if self.insecure is not None:
            return self.insecure
        return (self.endpoint or "").lower().startswith("http://")


class PrometheusConfig(_Model):
    """Prometheus scrape endpoint served by the driver."""

    enabled: bool = True
    """Serve a Prometheus scrape endpoint on the driver."""
    host: str = "127.0.0.1"
    """Address the scrape endpoint binds."""
    port: int = Field(9464, ge=0, le=65535)
    """Port of the scrape endpoint (0: any free port)."""


class TelemetryConfig(_Model):
    """OpenTelemetry metrics of the pipeline and of the key cost figures."""

    service_name: str = "streaming_obs"
    """OTel `service.name` of the metrics."""
    export_interval_seconds: float | None = Field(None, gt=0)
    """Interval of the periodic metric export; unset: OTEL_METRIC_EXPORT_INTERVAL (milliseconds)
    when set, else 10 s."""
    otlp: OtlpConfig = OtlpConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    cost_metrics_interval_seconds: float = Field(60, gt=0)
    """Interval at which the cost gauges re-read gold."""
    breaker_failure_threshold: int = Field(3, ge=1)
    """Export failures in a row that open the circuit breaker."""
    breaker_reset_seconds: float = Field(30, gt=0)
    """How long an open breaker waits before trying again."""
    # Added by the telemetry module (docs/metrics.md describes each).
    breaker_call_timeout_seconds: float = Field(3, gt=0)
    """Deadline of one exporter call behind the breaker."""
    worker_queue_size: int = Field(10_000, ge=10)
    """Listener-to-worker queue size; a full queue drops (and counts) events."""
    cost_metrics_enabled: bool = True
    """Export the cost gauges read from gold."""
    cost_top_n: int = Field(20, ge=1, le=1000)
    """Series per cost gauge (the top N keys by cost)."""
    anomaly_open_days: int = Field(2, ge=1, le=90)
    """Days a cost anomaly stays open in the gauges."""
    backlog_probe_seconds: float = Field(15, ge=0)
    """How often, at most, the backlog probe lists a source table's Delta log; 0: off."""


class QualityConfig(_Model):
    """Data-quality rules. A relative `rules_file` is looked up in the config directory (when one
    is given), then as a path, then among the files shipped in the wheel; `load_settings` stores
    the path it found in the config directory."""

    rules_file: str = "quality_rules.yaml"
    """Quality rules: a file shipped in the wheel, or a path (docs/quality-rules.md)."""
    enabled: bool = True
    """Run the quality rules on every micro-batch."""

    @field_validator("rules_file")
    @classmethod
    def _file_name(cls, v: str) -> str:
        if not v.strip() or any(ord(c) < 32 for c in v):
            raise ValueError(f"{v!r} is not a file name (empty, or holds control characters)")
        return v


class AnomalyConfig(_Model):
    """Daily cost anomaly detection against the previous days of the same key."""

    baseline_days: int = Field(7, ge=2, le=90)
    """Previous days of the same key that form the baseline."""
    z_threshold: float = Field(3.0, gt=0)
    """Z-score above which a day is an anomaly."""
    min_list_cost: float = Field(1.0, ge=0)
    """Days costing less are never anomalies."""


class ReconcileConfig(_Model):
    """The reconciliation of gold's cost (docs/architecture.md#reconciliation)."""

    in_stream: bool = True
    """Check the identities on the dates each gold batch touched and export
    `streaming_obs_reconciliation_difference`."""
    tolerance: float = Field(1e-6, ge=0)
    """Differences up to this (money or usage units) count as equal (in the stream and the default
    of `streaming-obs reconcile --tolerance`)."""
    every_seconds: float = Field(300.0, ge=0)
    """The in-stream check runs at most this often (on the dates the gold batch that runs it
    touched; the first gold batch of a run always checks). It re-reads and prices the touched
    days of silver, which every 30 s would cost the cores the stream needs; 0 checks every batch."""


class IdleConfig(_Model):
    """Idle compute (gold idle_compute_daily) from the node timeline."""

    cpu_threshold_percent: float = Field(5.0, ge=0, le=100)
    """A node-minute is idle when cpu_user_percent + cpu_system_percent is below this."""


class CostConfig(_Model):
    """Cost allocation."""

    tag_keys: list[str] = Field(default_factory=lambda: ["team", "cost_center", "project"])
    """Tag keys of `cost_by_tag_daily`."""
    untagged_value: str = "(untagged)"
    """Tag value given to usage without the tag."""
    anomaly: AnomalyConfig = AnomalyConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    idle: IdleConfig = IdleConfig()


#: alert thresholds of a budget, in percent of its monthly amount, when the file gives none
DEFAULT_BUDGET_THRESHOLDS: tuple[float, ...] = (50.0, 80.0, 100.0)


def _label_value(v: str, what: str) -> str:
    # names and values become metric labels and SQL data (bound, never formatted in): refuse
    # only what no label or log line can carry
    if not v.strip() or any(ord(c) < 32 for c in v):
        raise ValueError(f"{v!r} is not a valid {what} (empty, or holds control characters)")
    return v


class BudgetScope(_Model):
    """What a budget counts: the usage matching every part given (each list matches any of its
    values; every tag must match). An empty scope is the whole account in the budget's currency."""

    workspace_ids: list[str] = Field(default_factory=list)
    """Workspace ids (any of them)."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Custom tags `key: value` the usage must carry (all of them)."""
    skus: list[str] = Field(default_factory=list)
    """SKU names (`sku_name`, any of them)."""
    products: list[str] = Field(default_factory=list)
    """Products (`billing_origin_product`, e.g. JOBS, SQL, ALL_PURPOSE; any of them)."""

    @field_validator("workspace_ids", "skus", "products")
    @classmethod
    def _values(cls, v: list[str]) -> list[str]:
        for i, item in enumerate(v):
            try:
                _label_value(item, "value")
            except ValueError as exc:
                raise KeyedValueError((str(i),), str(exc)) from None
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            try:
                _label_value(key, "tag key")
                _label_value(value, "tag value")
            except ValueError as exc:
                raise KeyedValueError((key,), str(exc)) from None
        return v


class BudgetConfig(_Model):
    """One monthly budget (conf/budgets.yaml): gold budget_status_daily tracks its month-to-date
    list cost and month-end forecast (docs/budgets.md)."""

    name: str
    """Unique name of the budget (a metric label)."""
    scope: BudgetScope = BudgetScope()
    """What the budget counts; empty: the whole account."""
    monthly_amount: Decimal = Field(gt=0, max_digits=38, decimal_places=6)
    """The budget for one calendar month (UTC), in `currency`, at list prices."""
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    """ISO 4217 code; only usage priced in this currency counts."""
    thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_BUDGET_THRESHOLDS))
    """Alert thresholds in percent of `monthly_amount` (month-to-date spend at or above each alerts)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _label_value(v, "budget name")

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one threshold (percent of monthly_amount), or leave it out for 50/80/100")
        for i, t in enumerate(v):
            if not 0 < t <= 1000:
                raise KeyedValueError((str(i),), f"{t} is not a percentage in (0, 1000]")
        if len(set(v)) != len(v):
            raise ValueError(f"{v}: a threshold is repeated")
        return sorted(v)


class SimulatorConfig(_Model):
    """The embedded default: a simulator of the Databricks system tables."""

    root: str = ".streaming_obs/system"
    """Directory the simulator writes its system-table-shaped Delta tables under."""
    seed: int = 42
    """Random seed (same seed, same data)."""
    workspaces: int = Field(4, ge=1, le=1000)
    """Simulated workspaces."""
    jobs: int = Field(300, ge=1)
    """Simulated jobs."""
    clusters: int = Field(200, ge=1)
    """Simulated clusters."""
    warehouses: int = Field(12, ge=1)
    """Simulated SQL warehouses."""
    days: int = Field(14, ge=1, le=3650)
    """Days of history `simulate` writes."""
    rows_per_second: float = Field(50, gt=0)
    """Usage rows per second of the continuous simulator."""
    flush_seconds: float = Field(5, gt=0)
    """Interval at which the continuous simulator commits."""

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        return validate_path(v)


class LoggingConfig(_Model):
    """Logging of the entry point (the library itself never configures the root logger)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the entry point."""
    json_format: bool = Field(False, alias="json")
    """JSON lines instead of text (structlog)."""
    dir: str | None = None
    """Directory of per-run log files; set, the terminal shows WARNING and up only (unset: all
    to stderr, the right thing where a platform collects the driver's output)."""


class ResilienceConfig(_Model):
    """Supervisor restarts and retries inside a batch."""

    max_restarts: int = Field(5, ge=0)
    """Restarts of a failed query (from its checkpoint, with backoff) before the run fails."""
    backoff_initial_seconds: float = Field(2, gt=0)
    """First wait before a restart; the wait grows exponentially up to `backoff_max_seconds`."""
    backoff_max_seconds: float = Field(60, gt=0)
    """Longest wait between restarts."""
    write_retries: int = Field(5, ge=1)
    """Attempts of a Delta write that meets a concurrent-write conflict."""
    stop_timeout_seconds: float = Field(60, gt=0)
    """How long a graceful stop waits for running batches."""


class MaintenanceConfig(_Model):
    """OPTIMIZE / VACUUM of our own tables."""

    optimize_write: bool = True
    """Delta optimized writes on our tables."""
    auto_compact: bool = True
    """Delta auto compaction on our tables."""
    vacuum_retention_hours: int = Field(168, ge=168)
    """VACUUM retention, set on each table as `delta.deletedFileRetentionDuration` (at least 7 days)."""
    schedule_minutes: int | None = Field(None, ge=1)
    """OPTIMIZE + VACUUM every N minutes inside a continuous run; null: off."""
    clustering: dict[str, list[str]] = Field(default_factory=dict)
    """Z-order columns per `layer.table`."""


class GovernanceConfig(_Model):
    """Unity Catalog row filters / column masks and local PII masking."""

    mask_pii: bool = False
    """Hash identities and free text in silver (salted with `$<pii_salt_env>`)."""
    pii_salt_env: str = "STREAMING_OBS_PII_SALT"
    """Environment variable holding the PII salt."""
    workspace_map_table: str = "workspace_access"
    """Ops table of `group_name` -> `workspace_id` rows the workspace row filter reads."""
    admin_group: str = "streaming_obs_admins"
    """Group that sees every row and unmasked columns; the job's service principal must be in it."""
    # Added by deploy/governance (docs/deployment.md): who reads gold and silver, and which
    # columns hold identities (hashed after lower/trim) or free text (hashed as is). Dotted
    # names reach into structs; mask_pii skips names a table does not have.
    reader_group: str = "streaming_obs_readers"
    """Group granted USE SCHEMA and SELECT on silver and gold (through the row filters and masks)."""
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
    """Columns holding identities, hashed after lower/trim; dotted names reach into structs."""
    text_columns: list[str] = Field(default_factory=lambda: ["statement_text"])
    """Columns of free text, hashed as they are."""

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
    """Environment name; set from the `--env` the settings were loaded for."""
    catalog: str | None = None
    """Unity Catalog catalog (Databricks); null locally."""
    schemas: SchemasConfig = SchemasConfig()
    storage: StorageConfig = StorageConfig()
    spark: SparkConfig = SparkConfig()
    trigger: TriggerConfig = TriggerConfig()
    sources: dict[str, SourceConfig]
    """Every system table, by short name: all ten are required; `account_prices` (contract
    prices) is optional."""
    source_kind: Literal["simulator", "system_tables"] = "simulator"
    """Read the simulator or the real system tables; prod refuses `simulator`."""
    telemetry: TelemetryConfig = TelemetryConfig()
    quality: QualityConfig = QualityConfig()
    cost: CostConfig = CostConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    logging: LoggingConfig = LoggingConfig()
    resilience: ResilienceConfig = ResilienceConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()
    governance: GovernanceConfig = GovernanceConfig()
    budgets: list[BudgetConfig] = Field(default_factory=list)
    """Monthly budgets, read from `budgets.yaml` beside base.yaml when it exists (absent: none;
    docs/budgets.md)."""
    # Which file (or variable) set each dotted key; filled by `load_settings`, not a setting.
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # Where a value came from is not part of the settings: the same values loaded from files
        # or from the environment are equal (pydantic would also compare private attributes).
        if not isinstance(other, Settings):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment] - dict fields: never hashable anyway

    def source_of(self, key: str) -> str:
        """The file or `$VARIABLE` that set `key` (``telemetry.prometheus.port``) or one of its
        parents, for error messages; ``<defaults>`` when nothing did."""
        parts = key.split(".")
        while parts:
            hit = self._origins.get(".".join(parts))
            if hit:
                return hit
            parts.pop()
        return "<defaults>"

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, v: str | None) -> str | None:
        return None if v is None else validate_identifier(v)

    @field_validator("sources")
    @classmethod
    def _all_sources(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        unknown = sorted(set(v) - set(SOURCE_NAMES) - set(OPTIONAL_SOURCE_NAMES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {list(SOURCE_NAMES + OPTIONAL_SOURCE_NAMES)}")
        missing = sorted(set(SOURCE_NAMES) - set(v))
        if missing:
            raise ValueError(f"missing source(s) {missing}")
        return v

    @field_validator("budgets")
    @classmethod
    def _unique_budgets(cls, v: list[BudgetConfig]) -> list[BudgetConfig]:
        seen: set[str] = set()
        for i, b in enumerate(v):
            if b.name in seen:
                raise KeyedValueError((str(i), "name"), f"budget {b.name!r} is defined twice")
            seen.add(b.name)
        return v

    @field_validator("telemetry")
    @classmethod
    def _no_plaintext_secrets_in_prod(cls, v: TelemetryConfig, info: ValidationInfo) -> TelemetryConfig:
        otlp = v.otlp
        if info.data.get("env") == "prod" and otlp.enabled and otlp.headers and otlp.plaintext():
            raise KeyedValueError(
                ("otlp", "insecure" if otlp.insecure else "endpoint"),
                "prod refuses to send OTLP headers in plaintext; use an https:// endpoint (insecure: false)",
            )
        return v

    @model_validator(mode="after")
    def _prod_needs_real_sources(self) -> Settings:
        if self.env == "prod" and self.source_kind == "simulator":
            raise ValueError("prod refuses the simulator source; set source_kind: system_tables")
        return self
