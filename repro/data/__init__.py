"""Text data: tokenizers, corpora and the on-disk token cache."""
