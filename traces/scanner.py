"""The grammar's lexer, one line at a time, without the per-token loop.

traces/ftrace.lark makes every line one or two tokens: a line rule is a
sequence of terminals, and `start` a repetition of line rules. Lark's LALR
parser with its contextual lexer then reads a line by matching, at each
parser state, the alternation of the terminals that state accepts, in
Lark's own lexer order, first match wins, never going back on a token.
This module builds exactly those alternations, from Lark's compiled
terminals, and chains them into one `re` pattern per line: the state at the
start of a line, then, by the first token, the state after it. Nothing
here names a terminal or spells a pattern; a change to the grammar changes
the scanner with it.

A line the scanner does not match whole goes to Lark's parser, which names
what the line lacks.
"""

from collections.abc import Callable, Iterable
from copy import copy
from re import Match

from lark import Lark
from lark.lexer import BasicLexer, PatternRE


class GrammarShapeError(ValueError):
    """The grammar is not a repetition of lines of one or two tokens."""


class LineScanner:
    """`match(line)` reads a line's tokens as Lark would. Its `lastgroup`
    names the terminal of a one-token line, which reduces to the line rule
    `rule[lastgroup]`; or the second token of a two-token line (a line of
    rule `pair_rule`), whose terminals are `pairs[lastgroup]` and which
    starts at `start(lastgroup)`. A line it does not match whole is not a
    line Lark's lexer reads the same way: leave it to Lark."""

    def __init__(self, lark: Lark) -> None:
        conf = lark.lexer_conf
        if conf.ignore or conf.callbacks or conf.postlex:
            raise GrammarShapeError("ignored terminals, lexer callbacks or a postlexer")
        line_rules = [
            rule
            for rule in lark.rules
            if rule.expansion and all(symbol.is_term for symbol in rule.expansion)
        ]
        line_names = {rule.origin.name for rule in line_rules}
        for rule in lark.rules:  # everything else only repeats lines
            if rule.origin.name not in line_names and any(
                symbol.is_term for symbol in rule.expansion
            ):
                raise GrammarShapeError(f"rule {rule.origin.name} mixes tokens and lines")
        self.rule: dict[str, str] = {}  # one-token line: terminal -> rule
        seconds: dict[str, set[str]] = {}  # first terminal -> second terminals
        pair_rules: set[str] = set()
        for rule in line_rules:
            names = [symbol.name for symbol in rule.expansion]
            if any(name.startswith("_") for name in names) or (
                rule.options and rule.options.keep_all_tokens
            ):
                raise GrammarShapeError(f"rule {rule.origin.name} filters tokens")
            name = rule.alias or rule.origin.name
            if len(names) == 1:
                self.rule[names[0]] = name
            elif len(names) == 2:
                seconds.setdefault(names[0], set()).add(names[1])
                pair_rules.add(name)
            else:
                raise GrammarShapeError(f"rule {name} has more than two tokens")
        if self.rule.keys() & seconds.keys() or len(pair_rules) > 1:
            raise GrammarShapeError(
                "a token both ends and starts a line, or two kinds of two-token lines"
            )
        self.pair_rule = pair_rules.pop() if pair_rules else None
        # The lexer state at the start of a line: its first token, and no
        # going back on it whatever follows (the lexer does not backtrack).
        pattern = "(?>" + _alternation(conf, self.rule.keys() | seconds.keys()) + ")"
        # The state after a first token that needs a second: its own group
        # name for each pair, so that one match says both terminals.
        self.pairs: dict[str, tuple[str, str]] = {}
        rest = ""
        for first, names in sorted(seconds.items(), reverse=True):
            group = {name: f"{first}_then_{name}" for name in names}
            if conf.terminals_by_name.keys() & set(group.values()):
                raise GrammarShapeError("a terminal name clashes with a pair's group")
            self.pairs.update((group[name], (first, name)) for name in names)
            rest = f"(?({first})(?:{_alternation(conf, names, group)})|{rest})"
        self.match: Callable[[str], Match[str] | None] = conf.re_module.compile(
            pattern + rest, conf.g_regex_flags
        ).match


def _alternation(conf, names: Iterable[str], groups: dict[str, str] | None = None) -> str:
    """The pattern of a contextual-lexer state accepting `names`: Lark's
    BasicLexer orders them, the pattern is Lark's Scanner's, a group per
    terminal named by `groups` (default: the terminal's name)."""
    state_conf = copy(conf)
    state_conf.terminals = [conf.terminals_by_name[name] for name in names]
    state_conf.skip_validation = True
    terminals = BasicLexer(state_conf).terminals
    if not all(isinstance(terminal.pattern, PatternRE) for terminal in terminals):
        raise GrammarShapeError("string terminals in rules (Lark may retype them)")
    groups = groups or {}
    return "|".join(
        f"(?P<{groups.get(terminal.name, terminal.name)}>{terminal.pattern.to_regexp()})"
        for terminal in terminals
    )
