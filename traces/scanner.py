"""The grammar's lexer, one line at a time, without the per-token loop.

traces/ftrace.lark makes every line one or two tokens: a line rule is a
sequence of terminals, and `start` a repetition of line rules. Lark's LALR
parser with its contextual lexer then reads a line by matching, at each
parser state, the alternation of the terminals that state accepts, in
Lark's own lexer order, first match wins. This module builds exactly those
alternations, from Lark's compiled terminals, and applies them to a line
with two `re` matches: one for the state at the start of a line, one for
the state after its first token. Nothing here names a terminal or spells a
pattern; a change to the grammar changes the scanner with it.

A line the scanner does not match whole goes to Lark's parser, which names
what the line lacks.
"""

from collections.abc import Callable
from copy import copy
from re import Match

from lark import Lark
from lark.lexer import BasicLexer, PatternRE

MatchAt = Callable[[str, int], Match[str] | None]


class GrammarShapeError(ValueError):
    """The grammar is not a repetition of lines of one or two tokens."""


class LineScanner:
    """`first(line)` matches a line's first token; `after[first.lastgroup]`,
    when the line has a second token, matches it at `first.end()`.
    `rule[name]` is the line rule a one-token line reduces to, `pair_rule`
    the one of two-token lines."""

    def __init__(self, lark: Lark) -> None:
        conf = lark.lexer_conf
        if conf.ignore or conf.callbacks or conf.postlex:
            raise GrammarShapeError("ignored terminals, lexer callbacks or a postlexer")
        line_rules = [rule for rule in lark.rules
                      if rule.expansion and all(symbol.is_term for symbol in rule.expansion)]
        line_names = {rule.origin.name for rule in line_rules}
        for rule in lark.rules:  # everything else only repeats lines
            if rule.origin.name not in line_names and any(
                    symbol.is_term for symbol in rule.expansion):
                raise GrammarShapeError(f"rule {rule.origin.name} mixes tokens and lines")
        self.rule: dict[str, str] = {}  # one-token line: terminal -> rule
        pairs: dict[str, set[str]] = {}  # first terminal -> second terminals
        pair_rules: set[str] = set()
        for rule in line_rules:
            names = [symbol.name for symbol in rule.expansion]
            if any(name.startswith("_") for name in names) or (
                    rule.options and rule.options.keep_all_tokens):
                raise GrammarShapeError(f"rule {rule.origin.name} filters tokens")
            name = rule.alias or rule.origin.name
            if len(names) == 1:
                self.rule[names[0]] = name
            elif len(names) == 2:
                pairs.setdefault(names[0], set()).add(names[1])
                pair_rules.add(name)
            else:
                raise GrammarShapeError(f"rule {name} has more than two tokens")
        if self.rule.keys() & pairs.keys() or len(pair_rules) > 1:
            raise GrammarShapeError("a token both ends and starts a line, or two kinds of "
                                    "two-token lines")
        self.pair_rule = pair_rules.pop() if pair_rules else None
        self.first = _alternation(conf, self.rule.keys() | pairs.keys())
        by_set: dict[frozenset[str], MatchAt] = {}
        self.after: dict[str, MatchAt] = {
            first: by_set.setdefault(frozenset(seconds), _alternation(conf, seconds))
            for first, seconds in pairs.items()}


def _alternation(conf, names: set[str]) -> MatchAt:
    """The scanner of a contextual-lexer state accepting `names`: Lark's
    BasicLexer orders them, the pattern is Lark's Scanner's."""
    state_conf = copy(conf)
    state_conf.terminals = [conf.terminals_by_name[name] for name in names]
    state_conf.skip_validation = True
    terminals = BasicLexer(state_conf).terminals
    if not all(isinstance(terminal.pattern, PatternRE) for terminal in terminals):
        raise GrammarShapeError("string terminals in rules (Lark may retype them)")
    pattern = "|".join(f"(?P<{terminal.name}>{terminal.pattern.to_regexp()})"
                       for terminal in terminals)
    return conf.re_module.compile(pattern, conf.g_regex_flags).match
