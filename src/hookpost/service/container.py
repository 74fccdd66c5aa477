"""The bundle of use cases an edge needs, built once by the runtime and handed to the edge.

Edges depend on this shape, never on how the store or the worker behind it are made.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookpost.service.access import AccessService
from hookpost.service.applications import ApplicationService, CatalogService
from hookpost.service.endpoints import EndpointService
from hookpost.service.health import HealthService
from hookpost.service.history import HistoryService
from hookpost.service.messages import MessageService
from hookpost.service.polling import PollingService
from hookpost.service.portal import PortalAccess
from hookpost.service.probe import EndpointProbe
from hookpost.service.streams import StreamService


@dataclass(frozen=True)
class Services:
    access: AccessService
    applications: ApplicationService
    catalog: CatalogService
    endpoints: EndpointService
    messages: MessageService
    history: HistoryService
    probes: EndpointProbe
    portal: PortalAccess
    polling: PollingService
    streams: StreamService
    health: HealthService
