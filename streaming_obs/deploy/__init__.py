"""Deployment: the spark-submit driver, Databricks bundle checks, deploy plans and Unity Catalog
governance.

The CLI's `deploy` and `govern` commands are thin wrappers of `deploy_plan` and `govern`. PII
masking in silver is `streaming_obs.silver.masking`.
"""

from streaming_obs.deploy.bundle import check_bundle
from streaming_obs.deploy.governance import govern, governance_statements
from streaming_obs.deploy.plan import Check, Plan, deploy_plan

__all__ = ["Check", "Plan", "check_bundle", "deploy_plan", "govern", "governance_statements"]
