"""Job 3: the nightly churn run, alert rules, digests to account owners, and the CRM <-> project loop."""
