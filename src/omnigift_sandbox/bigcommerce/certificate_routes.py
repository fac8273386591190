"""v2 gift certificate routes (integrations.md 2.2): parse, call the rules, answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import certificates
from .errors import ApiError
from .gate import read_json, vendor
from .pages import page, v2_list
from .simulator import Simulator
from .state import Certificate

BASE = "/stores/{store_hash}/v2/gift_certificates"


async def list_certificates(request: Request, sim: Simulator) -> Response:
    """``GET /v2/gift_certificates`` with filters, ``sort=id`` and ``direction``."""
    query = dict(request.query_params)
    rows = [c for c in sim.store.certificates.values() if certificates.matches(c, query)]
    rows.sort(key=lambda c: c.id, reverse=query.get("direction", "asc").lower() == "desc")
    return v2_list([certificates.show(c) for c in page(rows, query)])


async def create_certificate(request: Request, sim: Simulator) -> Response:
    """``POST /v2/gift_certificates`` → 201 (no email is sent for API-made certificates [C])."""
    body = await read_json(request)
    certificate = certificates.create(sim.store, body, sim.config.currencies, sim.config.currency)
    return JSONResponse(certificates.show(certificate), status_code=201)


async def delete_all(request: Request, sim: Simulator) -> Response:
    """``DELETE /v2/gift_certificates`` deletes every certificate [C]."""
    sim.store.certificates.clear()
    return Response(status_code=204)


async def get_certificate(request: Request, sim: Simulator) -> Response:
    """``GET /v2/gift_certificates/{id}``."""
    return JSONResponse(certificates.show(_find(request, sim)))


async def put_certificate(request: Request, sim: Simulator) -> Response:
    """``PUT /v2/gift_certificates/{id}``: overwrite the given fields, last write wins."""
    certificate = _find(request, sim)
    body = await read_json(request)
    certificates.update(sim.store, certificate, body, sim.config.currencies)
    return JSONResponse(certificates.show(certificate))


async def delete_certificate(request: Request, sim: Simulator) -> Response:
    """``DELETE /v2/gift_certificates/{id}`` → 204."""
    certificate = _find(request, sim)
    del sim.store.certificates[certificate.id]
    return Response(status_code=204)


def _find(request: Request, sim: Simulator) -> Certificate:
    try:
        certificate_id = int(request.path_params["certificate_id"])
    except ValueError:
        certificate_id = -1
    certificate = sim.store.certificates.get(certificate_id)
    if certificate is None:
        raise ApiError(404, "The requested resource was not found.")
    return certificate


routes = [
    Route(BASE, vendor("v2", list_certificates), methods=["GET"]),
    Route(BASE, vendor("v2", create_certificate), methods=["POST"]),
    Route(BASE, vendor("v2", delete_all), methods=["DELETE"]),
    Route(BASE + "/{certificate_id}", vendor("v2", get_certificate), methods=["GET"]),
    Route(BASE + "/{certificate_id}", vendor("v2", put_certificate), methods=["PUT"]),
    Route(BASE + "/{certificate_id}", vendor("v2", delete_certificate), methods=["DELETE"]),
]
