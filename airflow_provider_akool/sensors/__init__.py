"""Akool sensors. Import them from their modules, e.g.
``from airflow_provider_akool.sensors.avatar import AkoolAvatarSensor``."""
