"""Layer-name regexes matched in linear time, whatever the pattern.

``--layers`` and recipe ``layers:`` are regexes users type (or copy from a stranger's recipe).
Python's ``re`` backtracks: ``^([\\w.]+)+!$`` against a 40-character layer name takes longer
than the universe has existed, and ``.*a.*b.*c.*d`` grows with the fourth power of the name.
There is no timeout to put on ``re`` from Python. So patterns are parsed with ``re``'s own
parser (the syntax users know) and run on a Thompson NFA (a Pike VM, as RE2 does): the work
is at most the name's length times the pattern's size. Back-references and look-arounds need
backtracking, so they are refused with one line; nobody needs them to pick layers.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    from re import _constants as sre_c  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
else:  # pragma: no cover
    import sre_constants as sre_c
    import sre_parse

from re import error as ReError

MAX_PATTERN_CHARS = 1000
MAX_PROGRAM = 20_000  # NFA instructions after {m,n} expansion


class UnsupportedRegex(ValueError):
    """A pattern this engine refuses: it needs backtracking or is too large."""


# Instructions: ("char", predicate) consumes one character; ("split", a, b) and ("jmp", a)
# are epsilon moves; ("assert", kind) tests the position; ("match",) accepts.
Instruction = tuple[Any, ...]
Predicate = Callable[[str], bool]


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


_CATEGORIES: dict[object, Predicate] = {
    sre_c.CATEGORY_DIGIT: str.isdigit,
    sre_c.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre_c.CATEGORY_SPACE: str.isspace,
    sre_c.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre_c.CATEGORY_WORD: _is_word,
    sre_c.CATEGORY_NOT_WORD: lambda c: not _is_word(c),
}
_ASSERTIONS = {
    sre_c.AT_BEGINNING: "begin",
    sre_c.AT_BEGINNING_STRING: "begin",
    sre_c.AT_END: "end",
    sre_c.AT_END_STRING: "end",
    sre_c.AT_BOUNDARY: "boundary",
    sre_c.AT_NON_BOUNDARY: "non_boundary",
}


@dataclass(frozen=True)
class SafeRegex:
    """A compiled pattern; ``search(name)`` answers what ``re.search(pattern, name)`` would."""

    pattern: str
    program: tuple[Instruction, ...]

    def search(self, text: str) -> bool:
        return _search(self.program, text)


@functools.lru_cache(maxsize=256)
def compile_safe(pattern: str) -> SafeRegex:
    """Compile ``pattern``; ``re.error`` for bad syntax, ``UnsupportedRegex`` for what needs
    backtracking or expands past ``MAX_PROGRAM`` instructions."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsupportedRegex(f"longer than {MAX_PATTERN_CHARS} characters")
    parsed = sre_parse.parse(pattern)
    flags = parsed.state.flags
    allowed = sre_c.SRE_FLAG_IGNORECASE | sre_c.SRE_FLAG_UNICODE | sre_c.SRE_FLAG_DOTALL
    if flags & ~allowed & ~sre_c.SRE_FLAG_VERBOSE:
        raise UnsupportedRegex("flags other than (?i), (?s) and (?x)")
    builder = _Builder(
        ignore_case=bool(flags & sre_c.SRE_FLAG_IGNORECASE),
        dot_all=bool(flags & sre_c.SRE_FLAG_DOTALL),
    )
    builder.emit_sequence(list(parsed))
    builder.add(("match",))
    return SafeRegex(pattern, tuple(builder.program))


class _Builder:
    def __init__(self, *, ignore_case: bool, dot_all: bool) -> None:
        self.program: list[Instruction] = []
        self.ignore_case = ignore_case
        self.dot_all = dot_all

    def add(self, instruction: Instruction) -> int:
        if len(self.program) >= MAX_PROGRAM:
            raise UnsupportedRegex(f"expands to more than {MAX_PROGRAM} steps")
        self.program.append(instruction)
        return len(self.program) - 1

    def patch(self, at: int, instruction: Instruction) -> None:
        self.program[at] = instruction

    def emit_sequence(self, items: list[tuple[Any, Any]]) -> None:
        for op, arg in items:
            self.emit(op, arg)

    def emit(self, op: Any, arg: Any) -> None:
        if op is sre_c.LITERAL:
            self.add(("char", self._literal(int(arg))))
        elif op is sre_c.NOT_LITERAL:
            same = self._literal(int(arg))
            self.add(("char", lambda c, same=same: not same(c)))
        elif op is sre_c.ANY:
            self.add(("char", (lambda c: True) if self.dot_all else (lambda c: c != "\n")))
        elif op is sre_c.IN:
            self.add(("char", self._char_class(arg)))
        elif op is sre_c.AT:
            kind = _ASSERTIONS.get(arg)
            if kind is None:
                raise UnsupportedRegex(f"anchor {arg}")
            self.add(("assert", kind))
        elif op is sre_c.SUBPATTERN:
            _group, add_flags, del_flags, body = arg
            if add_flags or del_flags:
                raise UnsupportedRegex("scoped flags (?i:...)")
            self.emit_sequence(list(body))
        elif op is sre_c.BRANCH:
            self._branch([list(b) for b in arg[1]])
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            low, high, body = arg
            self._repeat(int(low), int(high), list(body))
        else:
            raise UnsupportedRegex(f"{str(op).lower()} (back-references and look-arounds)")

    def _literal(self, code: int) -> Predicate:
        char = chr(code)
        if self.ignore_case:
            folded = char.casefold()
            return lambda c: c.casefold() == folded
        return lambda c: c == char

    def _char_class(self, items: list[tuple[Any, Any]]) -> Predicate:
        tests: list[Predicate] = []
        negate = False
        for op, arg in items:
            if op is sre_c.NEGATE:
                negate = True
            elif op is sre_c.LITERAL:
                tests.append(self._literal(int(arg)))
            elif op is sre_c.RANGE:
                low, high = arg
                tests.append(self._range(int(low), int(high)))
            elif op is sre_c.CATEGORY and arg in _CATEGORIES:
                tests.append(_CATEGORIES[arg])
            else:
                raise UnsupportedRegex(f"character class item {op}")

        def member(c: str) -> bool:
            return any(t(c) for t in tests) != negate

        return member

    def _range(self, low: int, high: int) -> Predicate:
        if self.ignore_case:
            return lambda c: any(low <= ord(x) <= high for x in (c, c.lower(), c.upper()))
        return lambda c: low <= ord(c) <= high

    def _branch(self, alternatives: list[list[tuple[Any, Any]]]) -> None:
        jumps = []
        for i, alternative in enumerate(alternatives):
            if i < len(alternatives) - 1:
                split = self.add(("split", 0, 0))
                self.emit_sequence(alternative)
                jumps.append(self.add(("jmp", 0)))
                self.patch(split, ("split", split + 1, len(self.program)))
            else:
                self.emit_sequence(alternative)
        for j in jumps:
            self.patch(j, ("jmp", len(self.program)))

    def _repeat(self, low: int, high: int, body: list[tuple[Any, Any]]) -> None:
        """``body`` ``low`` times, then optional copies up to ``high`` (a loop if unbounded).
        Greedy and lazy repeats match the same names, so both compile alike."""
        for _ in range(low):
            self.emit_sequence(body)
        if high == sre_c.MAXREPEAT:
            split = self.add(("split", 0, 0))
            self.emit_sequence(body)
            self.add(("jmp", split))
            self.patch(split, ("split", split + 1, len(self.program)))
            return
        exits = []
        for _ in range(high - low):
            exits.append(self.add(("split", 0, 0)))
            self.emit_sequence(body)
        for s in exits:
            self.patch(s, ("split", s + 1, len(self.program)))


def _search(program: tuple[Instruction, ...], text: str) -> bool:
    """Pike VM: the set of live threads advances one character at a time, each thread an
    instruction waiting for a character, and a new thread starts at every position (search,
    not match). Each position costs at most one visit per instruction."""
    threads: list[int] = []
    seen: set[int] = set()
    for pos in range(len(text) + 1):
        if _add(program, 0, pos, text, threads, seen):
            return True
        if pos == len(text):
            break
        char = text[pos]
        following: list[int] = []
        following_seen: set[int] = set()
        for pc in threads:
            accepts = program[pc][1]
            if accepts(char) and _add(program, pc + 1, pos + 1, text, following, following_seen):
                return True
        threads, seen = following, following_seen
    return False


def _add(
    program: tuple[Instruction, ...],
    start: int,
    pos: int,
    text: str,
    threads: list[int],
    seen: set[int],
) -> bool:
    """Add ``start`` and its epsilon closure at ``pos``; True when it reaches ``match``."""
    stack = [start]
    while stack:
        pc = stack.pop()
        if pc in seen:
            continue
        seen.add(pc)
        kind = program[pc][0]
        if kind == "match":
            return True
        if kind == "char":
            threads.append(pc)
        elif kind == "jmp":
            stack.append(int(program[pc][1]))
        elif kind == "split":
            stack.append(int(program[pc][2]))
            stack.append(int(program[pc][1]))
        elif kind == "assert" and _holds(str(program[pc][1]), pos, text):
            stack.append(pc + 1)
    return False


def _holds(kind: str, pos: int, text: str) -> bool:
    if kind == "begin":
        return pos == 0
    if kind == "end":
        return pos == len(text) or (pos == len(text) - 1 and text[-1] == "\n")
    before = pos > 0 and _is_word(text[pos - 1])
    after = pos < len(text) and _is_word(text[pos])
    return (before != after) if kind == "boundary" else (before == after)


def check_pattern(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used to pick layers, or None when it can."""
    try:
        compile_safe(pattern)
    except ReError as exc:
        return f"is not a regex: {exc}"
    except (UnsupportedRegex, RecursionError, OverflowError) as exc:
        return f"uses what hwsim's linear-time matcher does not support: {exc}"
    return None
