"""Tool schemas: every one the project ships passes the hosted API's function-schema rules,
and a schema that breaks them is refused when it is defined, never by the provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agenttree.bench.suites import SuiteError, load_suite
from agenttree.errors import ToolError
from agenttree.tools.base import REGISTRY, Param, Tool, check_args, tool
from agenttree.tools.schema import function_schema_problem

from ..bench.helpers import TOOL_CALLING, copy_suite
from ..models.openai_rules import refusal

SUITES = Path(__file__).parents[2] / "suites"


def _shipped() -> list[dict[str, Any]]:
    schemas = [t.schema() for t in REGISTRY.values()]
    for suite_dir in sorted(p.parent for p in SUITES.glob("*/suite.edn")):
        suite = load_suite(suite_dir)
        schemas += [t.tool.schema() for t in getattr(suite, "tools", {}).values()]
    return schemas


def _hosted_api_refusal(schema: dict[str, Any]) -> str | None:
    found = refusal({"model": "gpt-5.2", "messages": [{"role": "user", "content": "hi"}],
                     "tools": [schema]})
    return None if found is None else found.message


def test_every_schema_the_project_ships_passes_the_hosted_api_rules() -> None:
    schemas = _shipped()
    names = {s["function"]["name"] for s in schemas}
    assert {"spawn", "write-file", "sort_numbers", "add"} <= names
    for schema in schemas:
        name = schema["function"]["name"]
        assert function_schema_problem(schema) is None, name
        assert _hosted_api_refusal(schema) is None, name  # the independent check agrees


def _entry(parameters: dict[str, Any], name: str = "f", description: str = "d") -> dict:
    return {"type": "function",
            "function": {"name": name, "description": description, "parameters": parameters}}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize("entry,fragment", [
    (_entry(_object(numbers={"type": "array"})), "at numbers: an array schema needs items"),
    (_entry(_object(rows={"type": "array", "items": {"type": "array"}})),
     "at rows.items: an array schema needs items"),
    (_entry(_object(o=_object(deep={"type": "array"}))), "at o.deep: an array schema needs"),
    (_entry(_object(x={"type": "nubmer"})), "type 'nubmer' is not a JSON type"),
    (_entry({"type": "array", "items": {"type": "string"}}), 'parameters must be a schema of'),
    (_entry(_object(), name="has space"), "must be 1 to 64 letters"),
    (_entry(_object(), name="x" * 65), "must be 1 to 64 letters"),
    (_entry(_object(), description="x" * 1025), "at most 1024 characters"),
    ({"type": "tool", "function": {}}, 'a tool must be {"type": "function"'),
])
def test_schemas_the_hosted_api_refuses_are_refused_by_both_checks(entry, fragment) -> None:
    problem = function_schema_problem(entry)
    assert problem is not None and fragment in problem
    assert _hosted_api_refusal(entry) is not None


def test_the_engine_also_refuses_a_required_property_that_does_not_exist() -> None:
    # Stricter than the hosted API (which lets it pass outside strict mode): it is a bug.
    entry = _entry({"type": "object", "properties": {}, "required": ["ghost"]})
    assert function_schema_problem(entry) == "f: required must list property names only"


def test_the_refusal_reads_like_the_hosted_apis() -> None:
    message = _hosted_api_refusal(_entry(_object(numbers={"type": "array"}),
                                         name="sort_numbers"))
    assert message == ("Invalid schema for function 'sort_numbers': In context=('properties', "
                       "'numbers'), array schema missing items.")


def test_a_tool_with_a_bad_schema_cannot_be_registered() -> None:
    async def run(agent, args) -> str:
        return ""

    with pytest.raises(TypeError, match="tool 'bad-array': bad-array: at xs: an array schema"):
        tool("bad-array", "d", xs=Param(type="array", description="no items"))(run)
    assert "bad-array" not in REGISTRY


def test_a_suite_tool_with_a_bad_schema_is_refused_when_the_suite_loads(tmp_path) -> None:
    # Regression: sort_numbers (an array without items) loaded fine and every request that
    # offered it was refused by the hosted API (invalid_function_parameters).
    root = copy_suite(TOOL_CALLING, tmp_path)
    tools = (root / "tools.edn").read_text()
    (root / "tools.edn").write_text(tools.replace(':type "array" :items "number"',
                                                  ':type "array"'))
    with pytest.raises(SuiteError) as info:
        load_suite(root)
    assert "sort_numbers: at numbers: an array schema needs items" in str(info.value)
    assert "\n" not in str(info.value)
    (root / "tools.edn").write_text(tools.replace(':items "number"', ':items "float"'))
    with pytest.raises(SuiteError, match=":type and :items must be one of"):
        load_suite(root)


def test_array_elements_are_checked_against_items() -> None:
    t = Tool(name="t", description="d", run=None,  # type: ignore[arg-type]
             params={"xs": Param(type="array", items="number", description="numbers")})
    assert check_args(t, {"xs": [1, 2.5]}) == {"xs": [1, 2.5]}
    with pytest.raises(ToolError, match=r"'xs' must be an array of number, got '3'"):
        check_args(t, {"xs": [1, "3"]})
    with pytest.raises(ToolError, match="must be an array of number, got True"):
        check_args(t, {"xs": [True]})
