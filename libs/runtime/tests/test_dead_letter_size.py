"""A dead-letter copy always fits the producer's limit: near the limit its payload is cut, with the
original's size and digest; below it the copy is the record byte for byte."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from crm_runtime.answers import _weight, fitted

BUDGET = 10_000
OURS = [("dlq_reason", b"invalid_json"), ("dlq_error", b"Expecting value: line 1 column 1")]


@given(value=st.binary(max_size=15_000), key=st.binary(max_size=200),
       theirs=st.lists(st.tuples(st.text(min_size=1, max_size=20).filter(lambda k: not k.startswith("dlq_")),
                                 st.binary(max_size=4_000)), max_size=4))
def test_every_copy_fits_and_says_when_it_was_cut(value, key, theirs):
    headers = [*theirs, *OURS]
    copied, kept = fitted(value, key, headers, budget=BUDGET)
    assert _weight(copied, key, kept) <= BUDGET
    marks = dict(kept)
    if _weight(value, key, headers) <= BUDGET:
        assert (copied, kept) == (value, headers)
    else:
        assert marks["dlq_truncated"] == b"true" and value.startswith(copied)
        assert marks["dlq_original_bytes"] == str(len(value)).encode()
        assert marks["dlq_original_sha256"] == hashlib.sha256(value).hexdigest().encode()
        assert marks["dlq_reason"] == b"invalid_json"


def test_a_record_just_under_the_limit_keeps_most_of_its_payload():
    value = b"x" * (BUDGET - 30)  # fits alone, not with the headers
    copied, _ = fitted(value, b"acc", OURS, budget=BUDGET)
    assert BUDGET - 400 < len(copied) < len(value)
