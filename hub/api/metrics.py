from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.deps import HubDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(hub: HubDep) -> Response:
    return Response(generate_latest(hub.metrics_registry), media_type=CONTENT_TYPE_LATEST)
