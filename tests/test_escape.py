"""escape_md: a string from the data (a column, a class, a category, a file name) reads as itself in markdown.

Here the escaped form; tests/test_browser_text.py checks what Streamlit draws from it in Chromium.
"""
import re
import string

import pytest

from pages._state import escape_md

WORD_JOINER = "\u2060"
# Every markdown construct Streamlit renders that a data string could spell by accident (or on purpose).
CASES = [
    "[click me](https://example.com/phish)",
    "![x](http://example.com/x.png)",
    "*bold* **strong** _it_ __under__",
    "<b>bold</b> <img src=x>",
    "$x^2$ and $$y$$",
    ":red[red] :blue-background[b] :orange-badge[o] :small[s]",
    ":material/home: :smile: :+1: :streamlit:",
    "https://example.com/a www.example.com me@example.com HTTP://EXAMPLE.COM",
    "# heading",
    "- item",
    "+ item",
    "1. first",
    "2) second",
    "~strike~ ~~strike~~",
    "`code` ```fence```",
    "&amp; &lt;b&gt;",
    "> quote",
    "a | b",
    "a\n---",
    "a\n===",
    "x\n\n# h\n  - nested\n3. three",
    "back\\slash",
]


def shown(markdown: str) -> str:
    """What CommonMark shows for text made only of characters and backslash escapes (the word joiner is invisible)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


@pytest.mark.parametrize("text", CASES)
def test_escaped_text_reads_as_the_original(text):
    assert shown(escape_md(text)) == text


@pytest.mark.parametrize("text", CASES)
def test_no_markdown_character_is_left_bare(text):
    escaped = escape_md(text)
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)  # what remains once every escaped character is taken out
    assert not set(bare) & set("\\`*_[]<>|$~&"), escaped
    for line in escaped.split("\n"):  # nothing opens a heading, a list, a rule or a setext underline
        assert not re.match(r"\s*([#+=-]|\d+[.)](\s|$))", line), escaped


@pytest.mark.parametrize("text", CASES)
def test_what_streamlit_finds_in_the_shown_text_is_broken_up(text):
    # Bare links, emoji and icon shortcodes are found in the text after escapes are undone: a backslash cannot
    # stop them, the invisible word joiner does.
    text_node = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", escape_md(text))
    assert not re.search(r"(?i)https?://|www\.|[\w.+-]@[\w-]", text_node)
    assert not re.search(r":[\w+-]+:", text_node)
    assert ":material/" not in escape_md(text)  # Streamlit rewrites this one in the source, before parsing


def test_plain_text_is_left_as_it_is():
    for text in ("petal length (cm)", "mean radius", "colour: red → blue", "95% CI", "3.5 rows", "Ünïcode 名前"):
        assert escape_md(text) == text


def test_the_known_forms():
    assert escape_md("$50K_*bold*") == "\\$50K\\_\\*bold\\*"
    assert escape_md("[a](https://x.org)") == "\\[a\\](https:" + WORD_JOINER + "//x.org)"
    assert escape_md("# title") == "\\# title"
    assert escape_md("1. one") == "1\\. one"
    assert escape_md(":smile:") == ":" + WORD_JOINER + "smile:"
    assert escape_md(42) == "42"
    assert set(escape_md(string.ascii_letters + string.digits + " ,;'\"!?%()/")) == set(
        string.ascii_letters + string.digits + " ,;'\"!?%()/")
