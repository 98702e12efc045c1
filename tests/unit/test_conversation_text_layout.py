"""The bubble word wrap (ui/conversation/text_layout.py), measured with a fake font.

Every character is 7 px wide here, so expected lines can be worked out by hand; the
same engine with a real QFont is tested in tests/ui/test_conversation_bubbles.py.
"""

from __future__ import annotations

from collections import Counter

from smooch_desktop.ui.conversation.text_layout import TextWrapper, is_rtl

CHAR = 7.0


def fake_wrapper(calls: Counter[str] | None = None, clusters: int = 1) -> TextWrapper:
    """A wrapper for a monospaced 7 px font; long words break every ``clusters`` chars."""

    def advance(text: str) -> float:
        if calls is not None:
            calls[text] += 1
        return CHAR * len(text)

    def graphemes(word: str) -> list[str]:
        return [word[i : i + clusters] for i in range(0, len(word), clusters)]

    return TextWrapper(advance, line_height=17, average_char_width=CHAR, graphemes=graphemes)


def texts(lines: list[tuple[str, float, bool]]) -> list[str]:
    return [text for text, _width, _rtl in lines]


def test_lines_break_at_spaces_and_fit_the_limit() -> None:
    wrapper = fake_wrapper()
    # 10 characters per line at 70 px.
    lines = wrapper.wrap("aaaa bbbb cc dddddd e", 70)
    assert texts(lines) == ["aaaa bbbb", "cc dddddd", "e"]
    assert [width for _, width, _ in lines] == [63.0, 63.0, 7.0]
    assert wrapper.measure("aaaa bbbb cc dddddd e", 70) == (3, 63.0)


def test_measure_counts_the_lines_wrap_returns() -> None:
    wrapper = fake_wrapper()
    text = "The quick brown fox jumps over the lazy dog " * 9 + "\n\nsecond  paragraph"
    for limit in (70, 80, 150, 333, 10_000):  # every word fits a line
        lines = wrapper.wrap(text, limit)
        assert wrapper.measure(text, limit) == (len(lines), max(w for _, w, _ in lines))
        assert all(width <= limit for _, width, _ in lines)
        assert " ".join(texts(lines)).split() == text.split()


def test_a_short_paragraph_is_one_line_of_its_own_width() -> None:
    assert fake_wrapper().wrap("hi there", 500) == [("hi there", 56.0, False)]


def test_newlines_start_paragraphs_and_tabs_are_four_spaces() -> None:
    wrapper = fake_wrapper()
    assert texts(wrapper.wrap("one\r\ntwo\rthree\n\nfour", 500)) == [
        "one",
        "two",
        "three",
        "",
        "four",
    ]
    assert wrapper.wrap("a\tb", 500) == [("a    b", 42.0, False)]


def test_a_word_wider_than_the_line_breaks_only_between_graphemes() -> None:
    wrapper = fake_wrapper(clusters=3)  # pretend every 3 characters are one cluster
    word = "x" * 40
    lines = wrapper.wrap(f"see {word} ok", 70)
    assert lines[0][0] == "see"
    pieces = texts(lines[1:-1])
    assert "".join(pieces) + lines[-1][0].split(" ")[0] == word
    assert all(len(piece) % 3 == 0 for piece in pieces)  # never inside a cluster
    assert all(width <= 70 for _, width, _ in lines)
    count, widest = wrapper.measure(f"see {word} ok", 70)
    assert (count, widest) == (len(lines), max(w for _, w, _ in lines))


def test_each_paragraph_keeps_its_own_direction() -> None:
    hebrew, arabic = "שלום עולם", "123 مرحبا"
    lines = fake_wrapper().wrap("\n".join(["Hello", hebrew, arabic]), 500)
    assert [rtl for _, _, rtl in lines] == [False, True, True]
    assert is_rtl("123 שלום")  # digits are weak: the first letter decides
    assert not is_rtl("abc שלום")
    assert not is_rtl("123")


def test_word_widths_are_measured_once() -> None:
    calls: Counter[str] = Counter()
    wrapper = fake_wrapper(calls)
    text = "alpha beta gamma alpha beta gamma " * 50
    for limit in (50, 90, 300):
        wrapper.wrap(text, limit)
        wrapper.measure(text, limit)
    assert calls["alpha"] == 1
    assert calls["gamma"] == 1
