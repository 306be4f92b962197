"""Build the streaming_obs wheel. conf/ and sql/ ship inside it as package data."""

import re
from pathlib import Path

from setuptools import find_packages, setup

# The version lives in streaming_obs/_version.py alone; read, not imported (no dependencies yet).
VERSION = re.search(r'^__version__ = "([^"]+)"', Path(__file__).with_name("streaming_obs").joinpath("_version.py")
                    .read_text(encoding="utf-8"), re.M).group(1)
SPARK = ["pyspark==4.2.0", "delta-spark==4.4.0"]

setup(
    name="streaming_obs",
    version=VERSION,
    license="Apache-2.0",
    description="Databricks cost and reliability, streamed from the system tables to gold Delta tables",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["streaming_obs", "streaming_obs.*"])
    + ["streaming_obs.conf", "streaming_obs.sql"],
    package_dir={"streaming_obs.conf": "conf", "streaming_obs.sql": "sql"},
    package_data={
        # Spark's log config when streaming_obs builds the session (see session.py)
        "streaming_obs": ["log4j2.properties", "fairscheduler.xml"],
        "streaming_obs.conf": ["*.yaml"],
        "streaming_obs.sql": ["**/*.sql", "**/*.yaml", "**/*.ddl"],
    },
    include_package_data=False,
    install_requires=[
        "pydantic>=2.7,<3",
        "pyyaml>=6",
        "opentelemetry-api>=1.30,<2",
        "opentelemetry-sdk>=1.30,<2",
        "opentelemetry-exporter-otlp>=1.30,<2",
        "opentelemetry-exporter-prometheus>=0.51b0",
        "prometheus-client>=0.20",
        "tenacity>=8.2",
        "typer>=0.12",
        "rich>=13",
        "structlog>=24.1",
        # Parses the SQL of quality rules (Spark dialect) so validate-config checks it without Spark.
        "sqlglot>=30,<31",
    ],
    extras_require={
        # Clusters bring their own Spark and Delta; laptops and CI take them from here.
        "local": SPARK,
        "dev": SPARK
        + [
            "pytest>=8",
            "pytest-cov>=5",
            "pytest-timeout>=2.3",
            # `make test` runs the suite on two workers (one SparkSession each): most of a test's
            # time is a Delta commit's fixed latency, not CPU, so two halve the wall time on 2 cores
            "pytest-xdist>=3.6",
            # drives the demo and `run` in a pseudo-terminal (tests/cli/test_terminal.py)
            "pexpect>=4.9",
            "hypothesis>=6.100",
            "build>=1.2",
            "pdoc>=14",
            "databricks-bundles>=0.260",
            "grpcio>=1.60",
            "opentelemetry-proto>=1.30",
            # tests/telemetry/test_datadog.py validates docker/datadog/ with Datadog's API models
            "datadog-api-client>=2.30",
            # benchmarks/ plots (make bench); not needed by the product
            "matplotlib>=3.8",
            # benchmarks/feed.py: make bench feeds the source tables during its freshness windows with
            # delta-rs appends of Arrow tables (Spark's toArrow), not with Spark jobs on the cores
            # the pipeline under test needs; not needed by the product
            "deltalake>=1.6,<2",
            "pyarrow>=18",
        ],
    },
    entry_points={"console_scripts": ["streaming-obs=streaming_obs.cli.main:main"]},
)
