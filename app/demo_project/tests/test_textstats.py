"""Unit tests for textstats (stdlib unittest: run with `python3 -m unittest`)."""

import unittest

from textstats import dedupe_lines, ngram_counts, report, tokenize, top_words, word_counts


class TokenizeTest(unittest.TestCase):
    def test_lower_cases_and_strips_punctuation(self):
        self.assertEqual(tokenize("Hello, world! It's 2 o'clock."),
                         ["hello", "world", "it's", "2", "o'clock"])

    def test_punctuation_inside_a_chunk_splits_words(self):
        self.assertEqual(tokenize("end.Start;middle--end"), ["end", "start", "middle", "end"])

    def test_letters_beyond_ascii_are_letters(self):
        self.assertEqual(tokenize("Café NAÏVE"), ["café", "naïve"])

    def test_empty_and_blank(self):
        self.assertEqual(tokenize(""), [])
        self.assertEqual(tokenize("  \n\t ... "), [])


class CountTest(unittest.TestCase):
    def test_word_counts(self):
        self.assertEqual(word_counts(["a", "b", "a", "c", "a"]), {"a": 3, "b": 1, "c": 1})

    def test_top_words_orders_by_count_then_alphabet(self):
        counts = {"pear": 2, "apple": 2, "fig": 5, "kiwi": 1}
        self.assertEqual(top_words(counts, 3), [("fig", 5), ("apple", 2), ("pear", 2)])
        self.assertEqual(top_words(counts, 10)[-1], ("kiwi", 1))

    def test_ngram_counts(self):
        words = "the cat saw the cat run".split()
        self.assertEqual(ngram_counts(words, 2),
                         {"the cat": 2, "cat saw": 1, "saw the": 1, "cat run": 1})
        self.assertEqual(ngram_counts(words, 3)["the cat saw"], 1)
        self.assertEqual(ngram_counts(["one"], 2), {})


class DedupeTest(unittest.TestCase):
    def test_keeps_first_occurrence_in_order(self):
        lines = ["b", "a", " B ", "c", "A", "b"]
        self.assertEqual(dedupe_lines(lines), ["b", "a", "c"])


class ReportTest(unittest.TestCase):
    def test_report(self):
        text = "The cat sat.\nthe cat sat.\nA dog ran, the cat sat!"
        result = report(text, k=2)
        self.assertEqual(result["lines"], 3)
        self.assertEqual(result["unique_lines"], 2)
        self.assertEqual(result["words"], 12)
        self.assertEqual(result["top_words"], [("cat", 3), ("sat", 3)])
        self.assertEqual(result["top_bigrams"], [("cat sat", 3), ("the cat", 3)])


if __name__ == "__main__":
    unittest.main()
