"""Regexes of `regex` rules, checked without Spark before they reach Java's `Pattern`.

Spark's `rlike` runs `java.util.regex`, a backtracking engine: `(.*a){12}$` needs about 20 s on
one 32-character value, so a careless rule stalls every batch. Two checks run on the pattern:

- **Java syntax.** Constructs Python's `re` accepts and Java does not are refused by name:
  `(?P<n>…)` / `(?P=n)` (Java writes `(?<n>…)` / `\\k<n>`), `(?#…)` comments, `(?(1)…)`
  conditionals, the `a` and `L` inline flags and `{,n}` without a lower bound.
- **No nested quantifiers.** A backtracking quantifier that may repeat (`*`, `+`, `{2,}`,
  `{12}` …) must not contain a variable-length backtracking one (`(a+)+`, `(.*a){12}`,
  `([a-z]+\\.)*`): the engine tries every way of splitting the input between them. Make the
  inner one possessive (`a++`) or atomic (`(?>a+)`), which cannot backtrack, or write the rule
  as a `sql` check with string functions.

The pattern is parsed with Python's own regex parser (`re._parser`, the structure of both
dialects is the same) after Java-only escapes (`\\p{L}`, `\\Q…\\E`, `\\z`, `\\h` …) are mapped to
equivalents of the same shape, so valid Java patterns are not refused for being un-Pythonic.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

try:  # Python 3.11+
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["MAX_PATTERN_LENGTH", "check_regex"]

#: Longer patterns are refused: a rule is a check, not a grammar.
MAX_PATTERN_LENGTH = 1000

_BACKTRACKING = {_sre.MAX_REPEAT, _sre.MIN_REPEAT}
_NO_BACKTRACK = {getattr(_sre, "POSSESSIVE_REPEAT", None), getattr(_sre, "ATOMIC_GROUP", None)} - {None}
_JAVA_FLAGS = set("idmsuxU")


def check_regex(pattern: str) -> None:
    """Refuse a pattern that Java's regex engine rejects or that can backtrack catastrophically.

    Raises:
        ValueError: one line saying what is wrong and how to write it instead.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"regex is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH}")
    _python_only(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Java's `[a&&[b]]` makes Python warn about nested sets
            tree = _sre_parse.parse(_for_python(pattern))
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    nested = _nested_quantifier(tree)
    if nested:
        raise ValueError(
            f"regex {pattern!r} nests a quantifier inside a repeated group ({nested}): Java's engine "
            "backtracks catastrophically on it; make the inner quantifier possessive (a++) or atomic "
            "((?>a+)), or write a `sql` check"
        )


def _scan(pattern: str):  # noqa: ANN202 - yields (index, char, escaped, in_class)
    """Walk `pattern`, telling for each character whether it is escaped or inside `[...]`."""
    i, depth, n = 0, 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            yield i, pattern[i + 1], True, depth > 0
            i += 2
            continue
        if ch == "[":
            yield i, ch, False, depth > 0
            depth += 1
            i += 1
            if depth == 1:  # `[]a]` and `[^]a]`: a leading `]` is a literal in both dialects
                i += pattern[i : i + 1] == "^"
                i += pattern[i : i + 1] == "]"
            continue
        if ch == "]" and depth:
            depth -= 1
            yield i, ch, False, True
        else:
            yield i, ch, False, depth > 0
        i += 1


def _python_only(pattern: str) -> None:
    for i, ch, escaped, in_class in _scan(pattern):
        if escaped or in_class:
            continue
        rest = pattern[i:]
        if ch == "{" and rest.startswith("{,"):
            raise ValueError(f"regex {pattern!r}: '{{,n}}' is Python only; Java needs '{{0,n}}'")
        if ch != "(" or not rest.startswith("(?"):
            continue
        if rest.startswith("(?P<"):
            raise ValueError(f"regex {pattern!r}: '(?P<name>...)' is Python only; Java writes '(?<name>...)'")
        if rest.startswith("(?P"):
            raise ValueError(f"regex {pattern!r}: '(?P=name)' is Python only; Java writes '\\k<name>'")
        if rest.startswith("(?#"):
            raise ValueError(f"regex {pattern!r}: '(?#...)' comments are Python only")
        if rest.startswith("(?("):
            raise ValueError(f"regex {pattern!r}: conditional groups '(?(...)...)' are Python only")
        flags = re.match(r"\(\?([A-Za-z]*)(?:-([A-Za-z]*))?[:)]", rest)
        if flags:
            bad = sorted(set((flags.group(1) or "") + (flags.group(2) or "")) - _JAVA_FLAGS)
            if bad:
                raise ValueError(f"regex {pattern!r}: inline flag(s) {''.join(bad)!r} are not Java's (use i d m s u x U)")


_INLINE_FLAGS = re.compile(r"\(\?[A-Za-z]*(?:-[A-Za-z]*)?([:)])")
# Java escapes Python's parser does not know, mapped to something of the same shape.
_JAVA_ESCAPES = {"h": r"\s", "H": r"\S", "v": r"\s", "V": r"\S", "R": r"\s", "X": r"\w", "z": r"\Z",
                 "G": "(?:)", "e": r"\x1b", "a": r"\x07"}


def _for_python(pattern: str) -> str:
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "(" and pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")  # Java's named group
            i += 3
            continue
        flags = _INLINE_FLAGS.match(pattern, i) if ch == "(" else None
        if flags:  # flags do not change the structure, and Java's d and U are not Python's
            out.append("(?:" if flags.group(1) == ":" else "(?:)")
            i = flags.end()
            continue
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = pattern[i + 1]
        if nxt == "Q":  # \Q...\E quotes literally
            end = pattern.find("\\E", i + 2)
            end = n if end < 0 else end
            out.append(re.escape(pattern[i + 2 : end]))
            i = end + 2
            continue
        if nxt in "pP" or (nxt == "x" and pattern[i + 2 : i + 3] == "{"):
            if pattern[i + 2 : i + 3] == "{":
                close = pattern.find("}", i + 3)
                i = n if close < 0 else close + 1
            else:
                i += 3
            out.append(r"\w")
            continue
        if nxt == "c" and i + 2 < n:  # \cX: a control character
            out.append(r"\x01")
            i += 3
            continue
        if nxt == "k" and pattern[i + 2 : i + 3] == "<":  # \k<name>
            close = pattern.find(">", i + 3)
            if close > 0:
                out.append(f"(?P={pattern[i + 3 : close]})")
                i = close + 1
                continue
        out.append(_JAVA_ESCAPES.get(nxt, ch + nxt))
        i += 2
    return "".join(out)


def _children(av: Any):  # noqa: ANN202
    """Sub-patterns held in the argument of a parsed regex node, however deeply nested."""
    if isinstance(av, _sre_parse.SubPattern):
        yield av
    elif isinstance(av, (list, tuple)):
        for item in av:
            yield from _children(item)


def _variable_repeat(sub: Any) -> str | None:
    """The first backtracking quantifier of variable length in `sub` (not under an atomic group
    or possessive quantifier, which never give back what they matched), as text."""
    for op, av in sub.data if isinstance(sub, _sre_parse.SubPattern) else sub:
        if op in _NO_BACKTRACK:
            continue
        if op in _BACKTRACKING and av[0] != av[1]:
            return _quantifier(av[0], av[1])
        for child in _children(av):
            found = _variable_repeat(child)
            if found:
                return found
    return None


def _nested_quantifier(sub: Any) -> str | None:
    for op, av in sub.data if isinstance(sub, _sre_parse.SubPattern) else sub:
        if op in _BACKTRACKING and av[1] != 1:
            inner = _variable_repeat(av[2])
            if inner:
                return f"{inner} inside {_quantifier(av[0], av[1])}"
        for child in _children(av):
            found = _nested_quantifier(child)
            if found:
                return found
    return None


def _quantifier(lo: int, hi: Any) -> str:
    if hi is _sre.MAXREPEAT:
        return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
    if (lo, hi) == (0, 1):
        return "?"
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
