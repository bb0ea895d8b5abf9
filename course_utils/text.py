"""Text: NLTK's word tokenizer, made to give the same words on every NLTK version the course meets.

NLTK 3.10 splits an apostrophe that opens a word off it ("'Tis" -> "'", "Tis"; "'em" -> "'", "em") and a
dash off the word it touches; NLTK 3.9.1, Colab's, keeps "'em" whole, cuts "'Tis" into "'T", "is" and "by'r"
into "by", "'", "r". Vocabularies, perplexities and figures would then differ between Colab and a laptop. So
``word_tokenize`` makes 3.10's splits itself, sentence by sentence, and both versions give 3.10's words.
"""

import re

import nltk

from . import data

_OPENING_APOSTROPHE = re.compile(r"(?i)(?<!\w)'(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)")   # NLTK 3.10's rule
_INNER_APOSTROPHE = re.compile(r"(?i)(?<=\w)'(?=(?![mtsdn])\w\b)")   # "by'r": 3.9.1 splits it, 3.10 does not
_DASH = re.compile("[\u2012-\u2015]")                                  # figure, en and em dashes, bars
_LETTER_APOSTROPHE = "\u02bc"   # a letter to NLTK, so "by'r" stays one word; put back afterwards
_punkt_found = False            # checked once: a check per call would cost seconds over a corpus


def _as_nltk_3_10(sentence):
    sentence = _INNER_APOSTROPHE.sub(_LETTER_APOSTROPHE, sentence)
    sentence = _OPENING_APOSTROPHE.sub("' ", sentence)
    return _DASH.sub(r" \g<0> ", sentence)


def word_tokenize(text, language="english", preserve_line=False):
    """``nltk.word_tokenize(text, language, preserve_line)``, with NLTK 3.10's words on any version.

    Without ``preserve_line`` the text is first split into sentences with NLTK's punkt_tab data, which
    ``data.setup_nltk()`` finds (bundled) or downloads, or says plainly what is missing."""
    global _punkt_found
    if preserve_line:
        sentences = [text]
    else:
        if not _punkt_found:
            data.setup_nltk()
            _punkt_found = True
        sentences = nltk.sent_tokenize(text, language)
    return [word.replace(_LETTER_APOSTROPHE, "'")
            for sentence in sentences
            for word in nltk.word_tokenize(_as_nltk_3_10(sentence), language, preserve_line=True)]
