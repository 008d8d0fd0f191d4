"""textstats: word statistics for plain text, written slowly on purpose.

This is the sample project of `autoresearch-tui demo`. Each function below is correct
but wasteful in a way a careful reader can spot; the demo's agent tries to fix them.
"""

from textstats.core import (dedupe_lines, ngram_counts, report, tokenize, top_words,
                            word_counts)

__all__ = ["dedupe_lines", "ngram_counts", "report", "tokenize", "top_words", "word_counts"]
