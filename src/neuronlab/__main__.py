"""``python -m neuronlab ...`` is the ``neuronlab`` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="neuronlab")
