"""`make demo`: the product documents' stories on the live stack, printed as readable lines."""
