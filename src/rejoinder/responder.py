"""Who answers: the conversation history, the LLM tiers and the router that picks one, escalation
when a lower tier gives up, and prefilling the models' caches between turns.

The session asks `answer(text)` for speakable clauses and tells `remember(...)` what the listener
actually heard; a new tier, a remote model or tool use changes this module only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from rejoinder.answer import Answer
from rejoinder.backends.llm_heads import ListenerAhead, listener_ahead
from rejoinder.chunking import ClauseChunker, ends_sentence
from rejoinder.config import DEFAULT_SYSTEM_PROMPT, STRONG_PROMPT, Config, LLMConfig
from rejoinder.engine import Engine, Tier
from rejoinder.errors import ContextOverflow
from rejoinder.events import EventSink, ignore
from rejoinder.routers.router import is_echo, is_refusal
from rejoinder.stages.capabilities import can_prefill, has_slots
from rejoinder.stages.llm import GenerationParams, Message, ToolCallingLLM, supports_tools
from rejoinder.stages.router import RouteDecision
from rejoinder.tool_turns import ToolState, ToolTurn, direct_clauses, direct_plan, tool_clauses, tool_tier
from rejoinder.tools.prompt import TOOL_BASE_PROMPT, tool_system_prompt
from rejoinder.tools.toolset import ToolSet

log = logging.getLogger(__name__)


def params_for(config: LLMConfig, max_tokens: int | None = None) -> GenerationParams:
    """The sampling settings of one tier (the only place they are built from config)."""
    return GenerationParams(
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=max_tokens or config.max_tokens,
        seed=config.seed,
    )


class Responder:
    def __init__(self, engine: Engine, config: Config | None = None) -> None:
        """`config`: this conversation's settings (prompts, budgets, history); the engine's by default."""
        self.engine = engine
        self.config = config or engine.config
        self.key = uuid.uuid4().hex
        """Names this conversation to the models (a llama.cpp tier keeps its prompt cache in one slot)."""
        self.history: list[Message] = []
        self.instructions: str | None = None
        """Replaces every tier's system prompt (a Realtime client's `instructions`)."""
        self.max_tokens: int | None = None
        """Caps every tier's answer length (a Realtime client's `max_output_tokens`)."""
        self._background: set[asyncio.Task[None]] = set()
        self.tools = ToolState(engine.tools if engine.tools is not None else ToolSet())
        """In-process tools (the engine's), the client's tools and choice (Realtime), and the
        tools of direct answers (config `tools.direct`)."""
        if self.config.tools.direct:
            self.tools.direct = ToolSet.direct_builtins()
        self.notify: EventSink = ignore
        """Where tool calls and results are reported (the session's event sink)."""
        self.listener_ahead: ListenerAhead | None = None
        """How much of the reply its listener has still to hear (the session's output): a reply may
        pause for other turns' first clauses only while that covers the pause (llm_heads)."""
        self._opened: Message | None = None
        """The user message a tool turn put in the history before its tools ran."""
        self._writing: Counter[str] = Counter()
        """Replies this conversation is writing now, per tier (its share of engine.writing)."""
        self._continued: tuple[Message, str] | None = None
        """The unanswered user message the current request goes on from, and the two joined."""

    # --- prompts --------------------------------------------------------------------------
    def _earlier(self) -> list[Message]:
        """The history before the current request: without the message it goes on from."""
        if self._continued is not None and self.history and self.history[-1] is self._continued[0]:
            return self.history[:-1]
        return self.history

    def _goes_on(self, text: str) -> str:
        """`text` joined to the user's last words when no reply to those was heard (the turn was
        ended inside a pause, the user went on speaking, and the reply was cut before a word of
        it played): one request, as the user meant it, not two user messages in a row."""
        last = self.history[-1] if self.history else None
        if not text or last is None or last["role"] != "user" or last is self._opened:
            self._continued = None
            return text
        joined = f"{str(last['content']).rstrip()} {text.lstrip()}"
        self._continued = (last, joined)
        return joined

    def _instructions(self, answer: Answer | None) -> str | None:
        """This response's own instructions (a Realtime response.create's), else the session's."""
        return (answer.options.instructions if answer is not None else None) or self.instructions

    def _messages(self, tier: Tier, text: str, answer: Answer | None = None) -> list[Message]:
        system = self._instructions(answer) or tier.config.system_prompt
        messages: list[Message] = [{"role": "system", "content": system}, *self._earlier()]
        if text:
            messages.append({"role": "user", "content": text})
        return messages

    def _params(self, tier: Tier, answer: Answer) -> GenerationParams:
        budget = tier.config.max_tokens
        limit = answer.options.max_tokens or self.max_tokens
        params = params_for(tier.config, min(budget, limit) if limit else budget)
        return dataclasses.replace(params, conversation=self.key, usage=answer.usage)

    def tiers(self) -> list[Tier]:
        """The engine's loaded tier models with this conversation's settings, weakest first."""
        engine = self.engine
        settings = {t.name: t.llm for t in self.config.tier_configs()}
        if engine.router is None or len(engine.tiers) < 2:
            only = engine.tiers[0] if engine.tiers else Tier("default", engine.llm, self.config.llm)
            return [Tier(only.name, only.llm, settings.get(only.name, self.config.llm))]
        return [Tier(t.name, t.llm, settings[t.name]) for t in engine.tiers]

    def route(self, text: str) -> tuple[Tier, RouteDecision | None]:
        tiers = self.tiers()
        if len(tiers) < 2:
            return tiers[0], None
        decision: RouteDecision = self.engine.router.route(text, self._earlier())
        if decision.tier_index > 0 and self._overloaded(tiers[decision.tier_index]):
            decision = dataclasses.replace(decision, tier=tiers[0].name, tier_index=0, strategy="overload")
        return tiers[decision.tier_index], decision

    def _overloaded(self, tier: Tier) -> bool:
        """Another conversation is writing on `tier` (one llama.cpp slot: this turn would wait for
        its whole reply): the smallest tier answers now (opt-in; measured in docs/routing.md)."""
        others = self.engine.writing[tier.name] - self._writing[tier.name]
        return self.config.router.overload and others > 0

    # --- answering ------------------------------------------------------------------------
    async def answer(self, text: str, answer: Answer) -> AsyncGenerator[str, None]:
        """Speakable clauses of the reply to `text`, the first as soon as it is complete.

        A history grown past the model's context (long messages, or many unanswered ones) would
        fail this turn and every later one: the model refuses before reading it, so the older half
        of the history is dropped and the turn asked again, until it fits or only the request is
        left (then the request itself is too long: the turn fails with the model's reason)."""
        while True:
            clauses = self._answer(text, answer)
            said = False
            try:
                async for clause in clauses:
                    said = True
                    yield clause
                return
            except ContextOverflow as exc:
                dropped = 0 if said else self._forget_older_half()
                if not dropped:
                    raise
                log.info("history trimmed to fit the context", extra={"dropped": dropped, "reason": str(exc)})
            finally:
                await clauses.aclose()

    def _forget_older_half(self) -> int:
        """Drop the older half of the history's exchanges (at least one), never the request being
        answered; how many messages went."""
        keep = {id(m) for m in (self._opened, self._continued[0] if self._continued else None) if m}
        starts = [i for i, m in enumerate(self.history) if m["role"] == "user"]
        bounds = [*sorted({0, *starts}), len(self.history)]  # words before the first user's: one more
        exchanges = len(bounds) - 1 if self.history else 0
        if exchanges == 0:
            return 0
        cut = bounds[max(1, exchanges // 2)]
        if any(id(m) in keep for m in self.history[:cut]):
            return 0
        del self.history[:cut]
        return cut

    async def _answer(self, text: str, answer: Answer) -> AsyncGenerator[str, None]:
        """One try at `answer`.

        If a lower tier's first clause is a refusal, or its whole reply only repeats the
        question, nothing of it is said and the top tier answers instead (only the opening is
        checked, so other turns pay nothing)."""
        text = text if answer.resumed else self._goes_on(text)
        tier, answer.route = self.route(text or self._last_question())  # resumed: by the last question
        direct = None if answer.resumed else direct_plan(self.tools, text)
        tools = None if direct is not None else self._tool_route(text, answer)
        if direct is not None:
            clauses = direct_clauses(direct, self._tool_turn(text, answer))
            answer.route = self._route_for_tools(None, answer.route)
        elif tools is None:
            clauses = self._clauses(tier, text, answer)
        else:
            clauses = self._tool_clauses(tools, text, answer)
            answer.route = self._route_for_tools(tools, answer.route)
        try:
            if tools is None and self._may_escalate(answer.route):
                opening = await self._opening(clauses, text)
                if opening is None:
                    await clauses.aclose()
                    assert answer.route is not None
                    answer.route = self.engine.router.escalate(answer.route)
                    clauses = self._clauses(self.tiers()[answer.route.tier_index], text, answer)
                for clause in opening or []:
                    answer.timeline.mark("first_clause")
                    yield clause
            async for clause in clauses:
                answer.timeline.mark("first_clause")
                yield clause
        finally:
            await clauses.aclose()

    async def _clauses(self, tier: Tier, text: str, answer: Answer) -> AsyncGenerator[str, None]:
        """One tier's reply cut into clauses as its tokens arrive."""
        tl, params = answer.timeline, self._params(tier, answer)
        tl.mark("llm_start")
        with listener_ahead(self.listener_ahead):
            tokens = tier.llm.stream(self._messages(tier, text, answer), params)
        chunker = ClauseChunker(self.config.chunker)
        pieces = 0
        self.engine.writing[tier.name] += 1
        self._writing[tier.name] += 1
        try:
            async for piece in tokens:
                tl.mark("first_token")
                pieces += 1
                for clause in chunker.push(piece):
                    yield clause
        finally:
            self.engine.writing[tier.name] -= 1
            self._writing[tier.name] -= 1
            await tokens.aclose()  # type: ignore[attr-defined]
        tl.mark("llm_done")
        rest = chunker.flush()
        if (
            pieces >= params.max_tokens
            and rest
            and not ends_sentence(rest[-1])
            and len(rest) < chunker.emitted
        ):
            # Stopped by the token limit mid-sentence after something was said: the unfinished
            # phrase is not spoken (the report keeps it).
            answer.unspoken_tail = rest.pop()
        for clause in rest:
            yield clause

    # --- tool turns (tool_turns.py) ------------------------------------------------------
    def _tool_route(self, text: str, answer: Answer) -> Tier | None:
        """The tier for a tool turn, or None: no tools, a turn the rule says needs none, or no tier
        that can call tools."""
        if not (answer.resumed or self.tools.intent(text)) or not self.tools.available:
            return None
        tiers = self.tiers()
        routed = answer.route.tier_index if answer.route is not None else len(tiers) - 1
        index = tool_tier(tiers, routed)
        return None if index is None else tiers[index]

    def _route_for_tools(self, tier: Tier | None, route: RouteDecision | None) -> RouteDecision | None:
        """The route a tool turn took: to `tier`, or (None) to no model: a direct tool answer."""
        if route is None or (tier is not None and route.tier == tier.name):
            return route
        if tier is None:
            return RouteDecision("tool", route.tier_index, route.score, "direct", route.ms, route.features)
        index = [t.name for t in self.tiers()].index(tier.name)
        return RouteDecision(tier.name, index, route.score, "tools", route.ms, route.features)

    def _tool_turn(self, text: str, answer: Answer) -> ToolTurn:
        """This conversation's side of a tool turn. The user's message goes into the history just
        before the first call runs (tool results must follow it), once per turn."""
        user: Message | None = {"role": "user", "content": text} if text else None

        def open_user() -> None:
            if user is not None and self._opened is not user:
                self.history[:] = self._earlier()
                self.history.append(user)
                self._opened = user

        return ToolTurn(self.tools, self.history, open_user, answer, self.notify, self.config.chunker)

    def _tool_clauses(self, tier: Tier, text: str, answer: Answer) -> AsyncGenerator[str, None]:
        configured = tier.config.system_prompt
        packaged = configured in (DEFAULT_SYSTEM_PROMPT, STRONG_PROMPT)  # their examples get copied
        own = self._instructions(answer)
        system = tool_system_prompt(own or (TOOL_BASE_PROMPT if packaged else configured))
        prompt = self._messages(tier, text, answer)
        prompt[0] = {"role": "system", "content": system}
        llm = tier.llm
        assert isinstance(llm, ToolCallingLLM) and supports_tools(llm)
        return tool_clauses(llm, prompt, self._params(tier, answer), self._tool_turn(text, answer))

    @staticmethod
    async def _opening(clauses: AsyncGenerator[str, None], text: str) -> list[str] | None:
        """The reply's first clause(s), or None when the tier gave up: a refusal, or an echo of
        the question with nothing after it ("Hello?" -> "Hello?", but not "Hello! How can I help?")."""
        first = await anext(clauses, None)
        if first is None:
            return []
        if is_refusal(first):
            return None
        if not is_echo(first, text):
            return [first]
        second = await anext(clauses, None)
        return None if second is None else [first, second]

    def _may_escalate(self, route: RouteDecision | None) -> bool:
        return (
            route is not None
            and self.config.router.escalate
            and route.tier_index < len(self.engine.tiers) - 1
        )

    # --- history --------------------------------------------------------------------------
    def last_reply(self) -> str:
        """The agent's last words in the history (as heard, once truncated); "" before any."""
        for message in reversed(self.history):
            if message["role"] == "assistant" and isinstance(message.get("content"), str):
                return str(message["content"])
        return ""

    def remember(self, user: str, assistant: str | None) -> None:
        """Record an exchange as the listener heard it (`assistant` None: nothing was heard).

        Past the limit the older half goes at once: dropping one exchange per turn would shift
        the prompt every turn and throw away the LLM's cached prefix. A tool turn already put the
        user's message in, before its tool calls; an answer resumed after tool outputs has none."""
        opened, self._opened = self._opened, None
        continued, self._continued = self._continued, None
        if continued is not None and user and continued[1].endswith(user.strip()):
            # this turn went on from unanswered words: the history keeps the joined request once
            if self.history and self.history[-1] is continued[0]:
                self.history[-1] = {"role": "user", "content": continued[1]}
                user = ""
            elif opened is not None and opened["content"] == continued[1]:
                user = ""  # a tool turn already put it in
        if user and not any(m is opened and m["content"] == user for m in self.history):
            self.history.append({"role": "user", "content": user})
        if assistant:
            self.history.append({"role": "assistant", "content": assistant})
        keep = self.config.llm.history_turns * 2
        if len(self.history) > keep:
            kept = self.history[-max(2, keep // 2) :] if keep else []
            starts = [i for i, m in enumerate(kept) if m["role"] == "user"]  # never an orphan tool result
            self.history[:] = kept[starts[0] :] if starts else []
        self.prefill()

    def _last_question(self) -> str:
        return next((str(m["content"] or "") for m in reversed(self.history) if m["role"] == "user"), "")

    def heard_unanswered(self, user: str) -> None:
        """Words transcribed after their turn was cut: unanswered in the history, so the next
        request goes on from them (as from any cut-off question)."""
        if user.strip():
            self.history.append({"role": "user", "content": user})

    def forget(self, message: Mapping[str, Any] | None) -> bool:
        """A client deleted this message from its conversation: the newest one like it leaves
        the history (False: the history no longer held it)."""
        if not message:
            return False
        for i in range(len(self.history) - 1, -1, -1):
            held: Mapping[str, Any] = self.history[i]
            if all(held.get(key) == value for key, value in message.items()):
                del self.history[i]
                return True
        return False

    def truncate(self, user: str, reply: str, heard: str) -> None:
        """The listener heard only `heard` of the reply `reply` to `user`: keep only that."""
        for i in range(len(self.history) - 1, 0, -1):
            message = self.history[i]
            asked = next((m for m in reversed(self.history[:i]) if m["role"] == "user"), None)
            before = asked or self.history[i - 1]  # after a tool turn, the calls sit in between
            if (message["role"], message["content"], before["content"]) == ("assistant", reply, user):
                if heard:
                    self.history[i] = {"role": "assistant", "content": heard}
                else:
                    del self.history[i]
                break
        self.prefill()

    def prefills(self) -> bool:
        """Whether any tier keeps a prompt cache worth prefilling."""
        return any(can_prefill(tier.llm) for tier in self.tiers())

    async def prefill_partial(self, text: str) -> None:
        """Cache the user's words so far in the tier they would be routed to (the listener calls
        this while the user is still speaking); the turn's prompt then starts with them."""
        if not text.strip():
            return
        tier, _ = self.route(text)
        if can_prefill(tier.llm):
            await tier.llm.prefill_async(self._messages(tier, text), self.key)

    def prefill(self) -> None:
        """Let each tier cache the new history while the user listens, so the next turn starts fast."""
        if not self.history:
            return
        seen: set[int] = set()
        for tier in self.tiers():
            if can_prefill(tier.llm) and id(tier.llm) not in seen:
                seen.add(id(tier.llm))
                task = asyncio.create_task(tier.llm.prefill_async(self._messages(tier, ""), self.key))
                self._background.add(task)
                task.add_done_callback(self._prefilled)

    def _prefilled(self, task: asyncio.Task[None]) -> None:
        """A cache warm-up that failed costs the next turn its head start, nothing else."""
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("prefill failed", extra={"reason": str(task.exception())})

    def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for tier in self.tiers():
            if has_slots(tier.llm):
                tier.llm.forget(self.key)
