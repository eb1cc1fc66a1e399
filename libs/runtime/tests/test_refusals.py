"""A domain says no with its own exception (a `reason` and a `message`); the runtime answers it as
a rejection without the domain importing the runtime."""

from __future__ import annotations

from crm_runtime.handlers import Rejected, as_refusal


class DomainRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


def test_a_domain_refusal_becomes_a_rejection_with_its_reason_and_message() -> None:
    refused = as_refusal(DomainRefused("below_seats_in_use", "3 seats are in use"))
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.message) == ("below_seats_in_use", "3 seats are in use")


def test_the_runtimes_own_rejection_is_itself() -> None:
    rejected = Rejected("unknown_account", "no such account")
    assert as_refusal(rejected) is rejected


def test_other_errors_are_not_refusals() -> None:
    class Odd(Exception):
        reason = 42  # not a code
        message = "x"

    class NoReason(Exception):
        message = "a database error has a message but no reason"

    for exc in (ValueError("boom"), Odd(), NoReason(), DomainRefused("", "empty reason")):
        assert as_refusal(exc) is None, exc
