"""uvicorn's h11 protocol with a deadline for request headers (the slow-loris defence).

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) and bounds the size of an
incomplete request head (``h11_max_incomplete_event_size``), but a client that opens a
connection and sends a header byte every few seconds holds it for ever. Here every connection
must deliver a complete request head within ``client_timeout`` seconds of being opened (or of
the previous response); otherwise it is closed. The body has the same
limit, counted from the end of the head (``cli.web.app.body_of``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from cli.web.settings import Settings


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = Settings.from_env().client_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a request head was complete: a new cycle started
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head has the same deadline

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self._header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: its own limits apply
        self.transport.close()
