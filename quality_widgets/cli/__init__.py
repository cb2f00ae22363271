"""The command line: ``main`` builds the parser from one module per subcommand."""
from .main import main

__all__ = ["main"]
