"""``[core] hostname_callable`` for several Celery workers on one machine.

Airflow records the result in each task instance's ``hostname``; on one machine every worker would
report the same name, so ``make e2e-celery`` gives each worker ``AKOOL_WORKER_HOSTNAME`` and points
``AIRFLOW__CORE__HOSTNAME_CALLABLE`` at :func:`worker_hostname`. Elsewhere it is the FQDN.
"""

from __future__ import annotations

import os
import socket

ENV = "AKOOL_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """This worker's name from ``AKOOL_WORKER_HOSTNAME``, else the machine's FQDN."""
    return os.environ.get(ENV) or socket.getfqdn()
