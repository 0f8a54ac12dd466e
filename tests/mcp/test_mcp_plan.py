"""``:mcp`` in plans (docs/tools.md): parsed, checked with ``FILE:LINE: KEY: message``, narrowed
by depth with ``:server/*``, written back by ``plan_to_edn``; and ``import agenttree.cli`` never
loads the SDK."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agenttree.errors import PlanError
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.policy import derive, root_policy
from agenttree.tool_names import narrow, plan_tool_name, wire_name

PLAN = """{:mcp {:calc {:command ["python" "calc_server.py"] :cwd "tools" :env {"MODE" "fast"}}
       :docs {:url "http://127.0.0.1:9000/mcp" :headers-env {"Authorization" "DOCS_TOKEN"}}}
 :tiers [{:depth 0 :models ["scripted"] :tools [:read-file :calc/* :docs/search :spawn :finish]}
         {:depth 1 :tools [:calc/add :finish]}]
 :task {:task/id "root" :script [{:call :calc/add :args {"a" 1 "b" 2}}]}}
"""


def test_mcp_servers_survive_plan_to_edn() -> None:
    plan = parse_plan(PLAN, source="p.edn")
    assert plan.mcp["calc"].command == ("python", "calc_server.py")
    assert plan.mcp["calc"].env == {"MODE": "fast"}
    assert plan.mcp["docs"].headers_env == {"Authorization": "DOCS_TOKEN"}
    assert parse_plan(plan_to_edn(plan)) == plan


def test_server_tools_narrow_by_depth() -> None:
    plan = parse_plan(PLAN)
    root = root_policy(plan)
    assert {"calc/*", "docs/search"} <= root.tools
    assert root.allows_tool("calc/mul") and not root.allows_tool("docs/fetch")
    child = derive(root, plan, plan.root, 1)
    assert child.allows_tool("calc/add")
    assert not child.allows_tool("calc/mul") and not child.allows_tool("docs/search")


def test_all_tools_include_every_server() -> None:
    plan = parse_plan('{:mcp {:calc {:command ["x"]}} :task {:task/id "r"}}')
    assert root_policy(plan).allows_tool("calc/anything")


def test_names_on_the_wire_map_back_to_plan_names() -> None:
    assert wire_name("calc/add") == "calc__add"
    assert wire_name("read-file") == "read-file"
    assert plan_tool_name("calc__add", {"calc"}) == "calc/add"
    assert plan_tool_name("my__tool", {"calc"}) == "my__tool"
    assert narrow({"calc/*", "sh"}, {"calc/add", "calc/*"}) == {"calc/*"}
    assert narrow({"calc/*", "sh"}, {"calc/add"}) == {"calc/add"}


@pytest.mark.parametrize(("text", "line", "key", "fragment"), [
    ('{:mcp [1] :task {:task/id "r"}}', 1, ":mcp", "expected a map"),
    ('{:mcp {:my_srv {:command ["x"]}} :task {:task/id "r"}}', 1, ":mcp",
     "cannot name an MCP server"),
    ('{:mcp {"calc" {:command ["x"]}} :task {:task/id "r"}}', 1, ":mcp",
     'string "calc" cannot name'),
    ('{:mcp {:calc {}}\n :task {:task/id "r"}}', 1, ":calc", "exactly one of :command"),
    ('{:mcp\n {:calc [1]}\n :task {:task/id "r"}}', 2, ":calc",
     'expected a server map like {:command ["prog" "arg"]} or {:url "http://..."}, got a vector'),
    ('{:mcp {:calc {:command ["x"] :url "http://h/mcp"}}\n :task {:task/id "r"}}', 1, ":calc",
     "exactly one of"),
    ('{:mcp\n {:calc {:command []}}\n :task {:task/id "r"}}', 2, ":command", "is empty"),
    ('{:mcp {:calc {:command "python s.py"}}\n :task {:task/id "r"}}', 1, ":command",
     "a vector of strings"),
    ('{:mcp {:calc {:command ["x" 1]}}\n :task {:task/id "r"}}', 1, ":command",
     "expected strings, got number 1"),
    ('{:mcp {:calc {:command ["x"] :cwd 3}}\n :task {:task/id "r"}}', 1, ":cwd", "a directory"),
    ('{:mcp {:calc {:command ["x"]\n :env {"A B" "1"}}}\n :task {:task/id "r"}}', 2, ":env",
     "environment variable names"),
    ('{:mcp {:calc {:command ["x"] :headers-env {"A" "B"}}}\n :task {:task/id "r"}}', 1,
     ":headers-env", "belongs to a server with :url"),
    ('{:mcp {:docs {:url "ftp://h/x"}}\n :task {:task/id "r"}}', 1, ":url", "not an http"),
    ('{:mcp {:docs {:url "http://u:pw@h/mcp"}}\n :task {:task/id "r"}}', 1, ":url",
     "user name or password"),
    ('{:mcp {:docs {:url "http://h/mcp"\n :headers-env {"Authorization" "not a var"}}}\n'
     ' :task {:task/id "r"}}', 2, ":headers-env", "not an environment variable name"),
    ('{:mcp {:docs {:url "http://h/mcp" :frob 1}}\n :task {:task/id "r"}}', 1, ":frob",
     "unknown key in MCP server :docs"),
    ('{:mcp {:calc {:command ["x"]}}\n :tiers [{:depth 0 :tools [:clac/add]}]\n'
     ' :task {:task/id "r"}}', 2, ":tools", "no MCP server :clac in :mcp (declared: :calc)"),
    ('{:mcp {:calc {:command ["x"]}}\n :tiers [{:depth 0 :tools [:calc/a.b]}]\n'
     ' :task {:task/id "r"}}', 2, ":tools", "cannot name a tool of MCP server :calc"),
    ('{:mcp {:calc {:command ["x"]}}\n :task {:task/id "r"\n :script [{:call :calc/*}]}}', 3,
     ":call", "cannot name a tool of MCP server :calc"),
    ('{:mcp {:calc {:command ["x"]}}\n :tiers [{:depth 0 :tools [:calc/add]}\n'
     ' {:depth 1 :tools [:calc/*]}]\n :task {:task/id "r"}}', 3, ":tools",
     "asks for tool :calc/* that tier depth 0 lacks"),
])
def test_malformed_mcp_entries_are_refused_where_they_are(text: str, line: int, key: str,
                                                          fragment: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(text, source="p.edn")
    error = info.value
    assert (error.line, error.key) == (line, key), str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"p.edn:{line}: {key}: ")


def test_a_toolbox_name_that_would_collide_on_the_wire_is_refused() -> None:
    text = ('{:toolbox\n {:calc__add {:sh "true"}}\n :mcp {:calc {:command ["x"]}}\n'
            ' :task {:task/id "r"}}')
    with pytest.raises(PlanError, match="would collide on the wire with MCP server :calc") as info:
        parse_plan(text, source="p.edn")
    assert (info.value.line, info.value.key) == (2, ":calc__add")
    parse_plan(text.replace(":mcp {:calc", ":mcp {:other"))  # no server calc: no collision


def test_plan_check_names_file_line_and_key(tmp_path) -> None:
    plan = tmp_path / "p.edn"
    plan.write_text('{:mcp {:calc {:command ["x"]\n :cwd 3}}\n :task {:task/id "r"}}')
    result = subprocess.run([sys.executable, "-m", "agenttree", "plan", "check", str(plan)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert f"{plan}:2: :cwd: expected a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_importing_the_cli_does_not_load_the_mcp_sdk() -> None:
    code = ("import sys, agenttree.cli, agenttree.runtime.engine, agenttree.plan\n"
            "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
