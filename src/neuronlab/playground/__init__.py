"""``neuronlab playground``: the guide, live in the browser, driven by the real library.

:class:`~neuronlab.playground.session.Session` is the training session (no web code);
:mod:`neuronlab.playground.server` serves it (Starlette + uvicorn, the ``playground`` extra).
"""

from .session import Session

__all__ = ["Session"]
