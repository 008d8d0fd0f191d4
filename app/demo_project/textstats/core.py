"""The routines. Correct, tested, and slow."""

from __future__ import annotations


def tokenize(text: str) -> list[str]:
    """Lower-cased words: maximal runs of letters, digits and apostrophes."""
    words = []
    current = ""
    for ch in text:
        if ch.isalnum() or ch == "'":
            current += ch.lower()
        elif current:
            words.append(current)
            current = ""
    if current:
        words.append(current)
    return words


def word_counts(words: list[str]) -> dict[str, int]:
    """How many times each word occurs."""
    counts = {}
    for word in words:
        if word not in counts:
            counts[word] = words.count(word)
    return counts


def top_words(counts: dict[str, int], k: int) -> list[tuple[str, int]]:
    """The k most frequent words, most frequent first, ties in alphabetical order."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:k]


def ngram_counts(words: list[str], n: int = 2) -> dict[str, int]:
    """How many times each run of n consecutive words occurs (words joined by spaces)."""
    grams = []
    for i in range(len(words) - n + 1):
        gram = ""
        for word in words[i:i + n]:
            gram = gram + " " + word if gram else word
        grams.append(gram)
    counts: dict[str, int] = {}
    for gram in sorted(grams):
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def dedupe_lines(lines: list[str]) -> list[str]:
    """The lines in order, without repeats (ignoring case and surrounding spaces)."""
    seen = []
    kept = []
    for line in lines:
        key = line.strip().lower()
        if key not in seen:
            seen.append(key)
            kept.append(line)
    return kept


def report(text: str, k: int = 10) -> dict[str, object]:
    """Everything at once: what the benchmark measures."""
    lines = text.splitlines()
    unique = dedupe_lines(lines)
    words = tokenize(text)
    counts = word_counts(words)
    return {
        "lines": len(lines),
        "unique_lines": len(unique),
        "words": len(words),
        "vocabulary": len(counts),
        "top_words": top_words(counts, k),
        "top_bigrams": top_words(ngram_counts(words, 2), k),
    }
