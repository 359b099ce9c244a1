from archon_mcp.cli import main

main()
