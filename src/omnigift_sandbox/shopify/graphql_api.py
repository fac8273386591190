"""``POST /admin/api/{version}/graphql.json``: parse, validate, cost, throttle, execute."""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSyntaxError,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .cost import requested_cost
from .runtime import Simulator
from .schema import Context

DOCS = "https://shopify.dev/api/usage/rate-limits"


def _cost(sim: Simulator, requested: int, actual: int | None) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": sim.cost_bucket.status(),
        }
    }


def throttled(sim: Simulator, requested: int) -> Response:
    """The THROTTLED answer: no ``data``; HTTP 200 by default, 429 if configured [U]."""
    body = {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": DOCS},
            }
        ],
        "extensions": _cost(sim, requested, None),
    }
    return JSONResponse(body, status_code=sim.config.graphql_throttle_status)


def _errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    return [dict(error.formatted) for error in errors]


async def handle(sim: Simulator, request: Request) -> Response:
    """Answer one GraphQL request like Shopify: errors in the body, HTTP 200."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return JSONResponse(
            {"errors": {"query": "Required parameter missing or invalid"}}, status_code=400
        )
    variables = body.get("variables") or {}
    operation_name = body.get("operationName")
    try:
        document = parse(body["query"])
    except GraphQLSyntaxError as exc:
        return JSONResponse({"errors": _errors([exc])})
    problems = validate(sim.schema, document)
    if problems:
        return JSONResponse({"errors": _errors(problems)})
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        error = GraphQLError("An operation name is required when several operations are given")
        return JSONResponse({"errors": _errors([error])})
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    cost = requested_cost(
        sim.schema, operation, fragments, variables if isinstance(variables, dict) else {}
    )
    if cost > sim.config.graphql_max_cost:
        message = (
            f"Query cost is {cost}, which exceeds the single query max cost limit "
            f"({int(sim.config.graphql_max_cost)})."
        )
        extensions = {
            "code": "MAX_COST_EXCEEDED",
            "cost": cost,
            "maxCost": sim.config.graphql_max_cost,
        }
        return JSONResponse(
            {
                "errors": [{"message": message, "extensions": extensions}],
                "extensions": _cost(sim, cost, None),
            }
        )
    if not sim.cost_bucket.take(cost):
        return throttled(sim, cost)
    result = execute_sync(
        sim.schema,
        document,
        context_value=Context(store=sim.store, sender=sim.sender),
        variable_values=variables if isinstance(variables, dict) else None,
        operation_name=operation_name,
    )
    answer: dict[str, Any] = {}
    if result.errors:
        answer["errors"] = _errors(list(result.errors))
    if result.data is not None or not result.errors:
        answer["data"] = result.data
    answer["extensions"] = _cost(sim, cost, cost)
    return JSONResponse(answer)
