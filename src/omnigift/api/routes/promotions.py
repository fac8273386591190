"""Promotions: the rules staff set up (scope `promotions:write`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, json_response
from omnigift.api.schemas import Promotion, PromotionCreate, PromotionList, PromotionUpdate
from omnigift.clock import utcnow
from omnigift.keys import Principal, Scope
from omnigift.promotions.catalogue import (
    create_promotion,
    get_promotion,
    list_promotions,
    promotion_view,
    update_promotion,
)

router = APIRouter(prefix="/v1/promotions", tags=["promotions"], responses=PROBLEMS)
Manager = Annotated[Principal, Depends(require(Scope.PROMOTIONS_WRITE))]


@router.post("", status_code=201, response_model=Promotion, summary="Create a promotion")
async def create(body: PromotionCreate, runtime: RuntimeDep, principal: Manager) -> Response:
    """A malformed condition or reward is refused with a 422 naming it."""
    async with runtime.db.transaction() as conn:
        view = await create_promotion(conn, body.model_dump(), utcnow())
    return json_response(view, 201)


@router.get("", response_model=PromotionList, summary="List promotions")
async def list_all(runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.read() as conn:
        return json_response({"data": await list_promotions(conn)})


@router.get("/{promotion_id}", response_model=Promotion, summary="Get a promotion")
async def get(promotion_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """With `granted`: the promotional value it has given so far (what it cost)."""
    async with runtime.db.read() as conn:
        return json_response(promotion_view(await get_promotion(conn, promotion_id)))


@router.patch("/{promotion_id}", response_model=Promotion, summary="Change a promotion")
async def patch(
    promotion_id: str, body: PromotionUpdate, runtime: RuntimeDep, principal: Manager
) -> Response:
    """Switch it off with `{"active": false}`; a budget below what it granted is refused."""
    async with runtime.db.transaction() as conn:
        view = await update_promotion(
            conn, promotion_id, body.model_dump(exclude_unset=True), utcnow()
        )
    return json_response(view)
