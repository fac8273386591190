"""A simplified GraphQL query cost, computed before execution like Shopify's requested cost.

Rule (ours, documented in docs/sandbox-shopify.md; Shopify's real calculator is richer):
- each root field of a mutation costs 10, whatever it selects;
- scalar and enum fields cost 0; introspection fields cost 0;
- any other object field costs 1 plus what it selects;
- a connection field costs 2 + first (or last) x the cost of one node, where one node costs
  1 plus what it selects; ``pageInfo`` and the ``edges``/``nodes`` wrappers are free.
The actual cost is reported equal to the requested cost.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

MUTATION_COST = 10


def _size(node: FieldNode, variables: dict[str, Any]) -> int:
    for argument in node.arguments or ():
        if argument.name.value in ("first", "last"):
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                found = variables.get(value.name.value)
                return found if isinstance(found, int) else 0
    return 0


class _Costing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def _fields(
        self, selections: SelectionSetNode | None, parent: Any
    ) -> list[tuple[FieldNode, Any]]:
        """Flatten fragments into (field node, parent type) pairs."""
        out: list[tuple[FieldNode, Any]] = []
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                out.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                kind = parent
                if selection.type_condition:
                    kind = self.schema.get_type(selection.type_condition.name.value) or parent
                out.extend(self._fields(selection.selection_set, kind))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    kind = self.schema.get_type(fragment.type_condition.name.value) or parent
                    out.extend(self._fields(fragment.selection_set, kind))
        return out

    def selection(self, selections: SelectionSetNode | None, parent: Any) -> int:
        total = 0
        for node, kind in self._fields(selections, parent):
            name = node.name.value
            if name.startswith("__") or not isinstance(
                kind, GraphQLObjectType | GraphQLInterfaceType
            ):
                continue
            definition = kind.fields.get(name)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                continue
            if named.name.endswith("Connection"):
                total += 2 + _size(node, self.variables) * self._node_cost(node, named)
            else:
                total += 1 + self.selection(node.selection_set, named)
        return total

    def _node_cost(self, connection: FieldNode, kind: Any) -> int:
        cost = 0
        for node, _parent in self._fields(connection.selection_set, kind):
            name = node.name.value
            if name == "nodes":
                node_type = get_named_type(kind.fields["nodes"].type)
                cost = max(cost, 1 + self.selection(node.selection_set, node_type))
            elif name == "edges":
                edge_type = get_named_type(kind.fields["edges"].type)
                for inner, _p in self._fields(node.selection_set, edge_type):
                    if inner.name.value == "node":
                        node_type = get_named_type(edge_type.fields["node"].type)
                        cost = max(cost, 1 + self.selection(inner.selection_set, node_type))
        return cost


def requested_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """The requested cost of ``operation`` under the rule above."""
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(
            1 for s in operation.selection_set.selections if isinstance(s, FieldNode)
        )
    return _Costing(schema, fragments, variables).selection(
        operation.selection_set, schema.query_type
    )
