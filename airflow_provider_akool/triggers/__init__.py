"""Async waits run by the Airflow triggerer. Import them from their modules, e.g.
``from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger``."""
