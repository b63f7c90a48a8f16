"""The command palette (ctrl+p): "go to return …" (a bounded search in a thread), the
queues, and the current screen's actions, all from the action registry."""

from __future__ import annotations

import asyncio
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console import data
from console.actions import SCREENS, acts_for

RETURN_PREFIXES = ("go to return ", "return ", "goto ", "open ")


class ReturnlineCommands(Provider):
    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        out: list[tuple[str, object, str]] = []
        for name, key, title in SCREENS:
            out.append((f"Go to {title}", partial(app.run_action, f"go('{name}')"),
                        f"queue / screen (key {key})"))
        out.append(("Search returns", partial(app.run_action, "search"),
                    "by return id, RMA, order number, email or SKU (/)"))
        screen = self.screen
        scope = getattr(screen, "SCOPE", None)
        read_only = app.ctx.read_only  # type: ignore[attr-defined]
        if scope:
            for act in acts_for(scope):
                if not act.palette or (act.permission and read_only):
                    continue
                out.append((act.label, partial(screen.run_action, act.action), act.help))
        return out

    async def discover(self) -> Hits:
        for text, command, help_text in self._commands():
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, help=help_text)
        term = query.strip()
        lowered = term.lower()
        for prefix in RETURN_PREFIXES:
            if lowered.startswith(prefix):
                term = term[len(prefix):].strip()
                break
        if len(term) < 3:
            return
        app = self.app
        items = await asyncio.to_thread(data.search, app.ctx.db, term, 8)  # type: ignore[attr-defined]
        for item in items:
            yield Hit(1.0, f"Go to return {item.return_id}",
                      partial(app.open_return, item.return_id),  # type: ignore[attr-defined]
                      help=f"order {item.order} · {item.email or '-'} · {item.state} · "
                           f"{item.value}")
