"""``python -m crmsync.sandbox --port P --token T [options]``: the sandbox without Django."""

from .cli import main

main()
