"""A small MCP server for plans/tools.edn: arithmetic over stdio, written with the official SDK.

Run by agenttree as ``python calc_server.py`` in this directory (the plan's ``:cwd``).
"""

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

app = MCPServer("calc")


@app.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@app.tool()
def mul(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


@app.tool()
def div(a: float, b: float) -> float:
    """Divide a by b (b must not be 0)."""
    if b == 0:
        raise ToolError("division by zero")  # the message reaches the model
    return a / b


if __name__ == "__main__":
    app.run()
