from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import HubDep
from hub.api.schemas import Health, StoreHealth

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(hub: HubDep) -> Health:
    writer = hub.writer
    connected = hub.link.connected
    return Health(
        status="ok" if connected and not writer.failing else "degraded",
        site=hub.site.id,
        mqtt_connected=connected,
        devices=len(hub.site.devices),
        devices_online=hub.registry.online_count,
        messages=dict(hub.pipeline.stats.messages),
        quarantined=hub.quarantine.total,
        alerts_active=len(hub.alerts.active),
        store=StoreHealth(kind=hub.config.spec.store.kind, queue_depth=writer.pending,
                          written=writer.written, failures=writer.failures),
    )
