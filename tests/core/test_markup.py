"""Tests for the reply markup: escaping, styled spans, nesting, literal leftovers."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import markup
from bot.core.markup import Span, escape, parse, plain

pytestmark = pytest.mark.backend_free

# Text full of markup characters, to reach the parser's corners more often than st.text().
markup_heavy = st.text(alphabet="**``[]()\\ ab:/.https", max_size=40)
any_text = st.one_of(st.text(), markup_heavy)


def unstyled(span: Span) -> bool:
    """Say whether a span carries no style at all."""
    return not (span.bold or span.italic or span.code or span.link)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("", ""),
        ("a*b", "a\\*b"),
        ("**x**", "\\*\\*x\\*\\*"),
        ("`x`", "\\`x\\`"),
        ("[a](https://b)", "\\[a\\]\\(https://b\\)"),
        ("C:\\dir", "C:\\\\dir"),
        ("_under_ ~strike~ <b>", "_under_ ~strike~ <b>"),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert escape(text) == escaped


@given(any_text)
def test_escaped_text_parses_back_to_itself_unstyled(text: str) -> None:
    spans = parse(escape(text))
    assert "".join(span.text for span in spans) == text
    assert all(unstyled(span) for span in spans)
    assert plain(escape(text)) == text


@given(any_text.filter(bool))
def test_escaped_text_takes_the_style_around_it(text: str) -> None:
    safe = escape(text)
    assert parse(f"**{safe}**") == [Span(text, bold=True)]
    assert parse(f"*{safe}*") == [Span(text, italic=True)]
    assert parse(f"`{safe}`") == [Span(text, code=True)]
    assert parse(f"[{safe}](https://example.com/{safe})") == [
        Span(text, link=f"https://example.com/{text}")
    ]


@given(any_text)
def test_parse_never_fails_on_any_text(text: str) -> None:
    spans = parse(text)
    assert all(span.text for span in spans)
    styles = [(s.bold, s.italic, s.code, s.link) for s in spans]
    assert all(a != b for a, b in pairwise(styles))
    assert len(plain(text)) <= len(text)


@pytest.mark.parametrize(
    ("markup", "spans"),
    [
        ("", []),
        ("plain text", [Span("plain text")]),
        ("**bold**", [Span("bold", bold=True)]),
        ("*italic*", [Span("italic", italic=True)]),
        ("`code`", [Span("code", code=True)]),
        ("[docs](https://example.com/a?b=1)", [Span("docs", link="https://example.com/a?b=1")]),
        ("[docs](http://example.com)", [Span("docs", link="http://example.com")]),
        ("a **b** c", [Span("a "), Span("b", bold=True), Span(" c")]),
        ("**a** and **b**", [Span("a", bold=True), Span(" and "), Span("b", bold=True)]),
        ("**你好**世界", [Span("你好", bold=True), Span("世界")]),
        ("2 * 3 * 4", [Span("2 "), Span(" 3 ", italic=True), Span(" 4")]),
        # nesting
        (
            "**bold *both* bold**",
            [
                Span("bold ", bold=True),
                Span("both", bold=True, italic=True),
                Span(" bold", bold=True),
            ],
        ),
        (
            "*it **both** it*",
            [
                Span("it ", italic=True),
                Span("both", bold=True, italic=True),
                Span(" it", italic=True),
            ],
        ),
        ("***both***", [Span("both", bold=True, italic=True)]),
        ("**bold *both***", [Span("bold ", bold=True), Span("both", bold=True, italic=True)]),
        ("*it **both***", [Span("it ", italic=True), Span("both", bold=True, italic=True)]),
        ("**a***b*", [Span("a", bold=True), Span("b", italic=True)]),
        ("**a*b**", [Span("a*b", bold=True)]),
        ("*a**b*", [Span("a**b", italic=True)]),
        ("**`code`**", [Span("code", bold=True, code=True)]),
        ("*[docs](https://x.org)*", [Span("docs", italic=True, link="https://x.org")]),
        (
            "**Tip:** use `**kwargs`",
            [Span("Tip:", bold=True), Span(" use "), Span("**kwargs", code=True)],
        ),
        (
            "**x `a**b` y**",
            [Span("x ", bold=True), Span("a**b", bold=True, code=True), Span(" y", bold=True)],
        ),
        ("`a*b*`", [Span("a*b*", code=True)]),
        ("`[a](https://x)`", [Span("[a](https://x)", code=True)]),
        ("[**b**](https://x)", [Span("**b**", link="https://x")]),
        # unmatched markers stay literal
        ("**open", [Span("**open")]),
        ("*open", [Span("*open")]),
        ("close**", [Span("close**")]),
        ("`open", [Span("`open")]),
        ("``", [Span("``")]),
        ("**", [Span("**")]),
        ("****", [Span("****")]),
        ("*a**", [Span("*a**")]),
        ("*a*b*", [Span("a", italic=True), Span("b*")]),
        ("**a**b**", [Span("a", bold=True), Span("b**")]),
        ("*a **b c*", [Span("a **b c", italic=True)]),
        ("[label]", [Span("[label]")]),
        ("[label](", [Span("[label](")]),
        ("[](https://x)", [Span("[](https://x)")]),
        ("[a](https://x", [Span("[a](https://x")]),
        ("[a] (https://x)", [Span("[a] (https://x)")]),
        # escaped markers
        ("\\*not italic\\*", [Span("*not italic*")]),
        ("\\*\\*not bold\\*\\*", [Span("**not bold**")]),
        ("\\`not code\\`", [Span("`not code`")]),
        ("\\[a\\](https://x)", [Span("[a](https://x)")]),
        ("*a\\*b*", [Span("a*b", italic=True)]),
        ("`a\\`b`", [Span("a`b", code=True)]),
        ("[a\\]b](https://x)", [Span("a]b", link="https://x")]),
        (
            "[w](https://en.wikipedia.org/wiki/A_\\(b\\))",
            [Span("w", link="https://en.wikipedia.org/wiki/A_(b)")],
        ),
        ("a\\\\b", [Span("a\\b")]),
        ("a\\", [Span("a\\")]),
        ("\\n", [Span("n")]),
        ("\\\\*a*", [Span("\\"), Span("a", italic=True)]),
        # links that are not web links stay literal
        ("[l](ftp://x)", [Span("[l](ftp://x)")]),
        ("[l](javascript:alert(1))", [Span("[l](javascript:alert(1))")]),
        ("[l](example.com)", [Span("[l](example.com)")]),
        ("[l](https:x)", [Span("[l](https:x)")]),
    ],
)
def test_parse(markup: str, spans: list[Span]) -> None:
    assert parse(markup) == spans


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("**Please give** *when*.", "Please give when."),
        ("Run `/ask` or see [the guide](https://x.org/guide)", "Run /ask or see the guide"),
        ("\\*literal\\*", "*literal*"),
        ("2 ** 3", "2 ** 3"),
    ],
)
def test_plain(markup: str, text: str) -> None:
    assert plain(markup) == text


def test_long_runs_of_markers_parse_quickly() -> None:
    for piece in ("*a **b ", "**a *b ", "***a", "[", "`*", "\\*", "*[a](http://x)"):
        text = piece * (8000 // len(piece))
        assert len(plain(text)) <= len(text)


def test_a_text_is_lexed_once_and_each_caller_gets_its_own_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lexed: list[str] = []
    run = markup._Lexer.run

    def counting(self: markup._Lexer) -> list[markup._Node]:
        lexed.append(self.text)
        return run(self)

    monkeypatch.setattr(markup._Lexer, "run", counting)
    text = "`/help` — **list** the commands (cache test 7f3a)"
    first = parse(text)
    first.append(Span("mutated by a caller"))
    second = parse(text)
    assert lexed == [text]
    assert second == [
        Span("/help", code=True),
        Span(" — "),
        Span("list", bold=True),
        Span(" the commands (cache test 7f3a)"),
    ]
