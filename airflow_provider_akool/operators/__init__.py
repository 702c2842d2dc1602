"""Akool operators. Import them from their modules, e.g.
``from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator``."""
