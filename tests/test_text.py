"""course_utils.text.word_tokenize gives the same words on NLTK 3.9.1 (Colab's) and 3.10 (a laptop's).

NLTK 3.9.1 differs from 3.10 in two rules of its word tokenizer (nltk/tokenize/destructive.py): the
starting-quote rule for an apostrophe that opens a word, and 3.10's extra rule that splits dashes off words.
``nltk_3_9_1`` puts 3.9.1's rules back into the installed NLTK, so both versions are tested on one machine
(checked against a real NLTK 3.9.1: the same tokens on every turn of Tiny Shakespeare and every Multi30k line).
"""
import re

import pytest
from nltk.tokenize.destructive import NLTKWordTokenizer

import nltk
from course_utils import data, text

# The tokens notebooks 04 and 05 rely on, whatever the NLTK version (NLTK 3.10's own tokens).
PINNED = {
    "'Tis the time. Tell 'em so.": ["'", "Tis", "the", "time", ".", "Tell", "'", "em", "so", "."],
    "I'll see 'em, 'tis 'gainst o'er the hill.": ["I", "'ll", "see", "'", "em", ",", "'", "tis", "'", "gainst",
                                                 "o'er", "the", "hill", "."],
    "Bad news, by'r lady; 'twas so. 'Twixt us.": ["Bad", "news", ",", "by'r", "lady", ";", "'", "twas", "so", ".",
                                                 "'", "Twixt", "us", "."],
    "Mr. Smith isn't here.": ["Mr.", "Smith", "is", "n't", "here", "."],
}
# What NLTK 3.9.1 itself gives for the first two lines (run with nltk==3.9.1).
NLTK_3_9_1 = {
    "'Tis the time. Tell 'em so.": ["'T", "is", "the", "time", ".", "Tell", "'em", "so", "."],
    "I'll see 'em, 'tis 'gainst o'er the hill.": ["I", "'ll", "see", "'em", ",", "'t", "is", "'gainst", "o'er",
                                                 "the", "hill", "."],
}


def use_nltk_3_9_1(monkeypatch):
    """The installed NLTK with the word-tokenizer rules of NLTK 3.9.1."""
    old_quote = (re.compile(r"(?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b", re.U), r"\1 \2")
    quotes = [old_quote if r"(?<!\w)(\')" in rule[0].pattern else rule for rule in NLTKWordTokenizer.STARTING_QUOTES]
    punctuation = [rule for rule in NLTKWordTokenizer.PUNCTUATION if r"\u2012" not in rule[0].pattern]
    monkeypatch.setattr(NLTKWordTokenizer, "STARTING_QUOTES", quotes)
    monkeypatch.setattr(NLTKWordTokenizer, "PUNCTUATION", punctuation)


@pytest.mark.parametrize("line", PINNED)
def test_tokens_are_pinned(line):
    assert text.word_tokenize(line) == PINNED[line]


@pytest.mark.parametrize("line", PINNED)
def test_tokens_are_the_same_with_nltk_3_9_1(monkeypatch, line):
    use_nltk_3_9_1(monkeypatch)
    assert text.word_tokenize(line) == PINNED[line]


def test_the_emulation_gives_nltk_3_9_1s_tokens(monkeypatch):
    # so that the test above does not pass against an NLTK that was never changed
    data.setup_nltk()
    use_nltk_3_9_1(monkeypatch)
    for line, tokens in NLTK_3_9_1.items():
        assert nltk.word_tokenize(line) == tokens


@pytest.mark.parametrize("line, language, tokens", [
    ("sieben leute benutzen pc–tische .", "german", ["sieben", "leute", "benutzen", "pc", "–", "tische", "."]),
    ("the \"hook 'em horns\" sign under a 'grand opening' sign .", "english",
     ["the", "``", "hook", "'", "em", "horns", "''", "sign", "under", "a", "'", "grand", "opening", "'", "sign", "."]),
])
def test_captions_as_notebook_05_tokenizes_them(monkeypatch, line, language, tokens):
    assert text.word_tokenize(line, language=language, preserve_line=True) == tokens
    use_nltk_3_9_1(monkeypatch)
    assert text.word_tokenize(line, language=language, preserve_line=True) == tokens


def test_shakespeare_turns_with_apostrophes_tokenize_the_same(monkeypatch):
    turns = [t.strip() for t in data.shakespeare().split("\n\n") if "'" in t][:300]
    words = [text.word_tokenize(t) for t in turns]
    assert words == [nltk.word_tokenize(t) for t in turns], \
        "the course's tokenizer must give NLTK 3.10's own words: the GloVe subset and the measured numbers use them"
    use_nltk_3_9_1(monkeypatch)
    assert [text.word_tokenize(t) for t in turns] == words
