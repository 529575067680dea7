"""Transactions and lag (kafkabp.transactions, lesson 02 part e): bad input is refused before any broker call."""

from __future__ import annotations

import pytest

from kafkabp import transactions


def test_a_transaction_needs_a_message() -> None:
    with pytest.raises(ValueError, match="at least one transaction of at least one message, got 0 × 10"):
        transactions.produce_transactions("t", 0, 10)
    with pytest.raises(ValueError, match="got 3 × 0"):
        transactions.produce_transactions("t", 3, 0)


def test_the_commit_kind_is_checked_with_the_choices_named() -> None:
    with pytest.raises(ValueError, match=r"commit must be one of \('last message', 'position'\), got 'latest'"):
        transactions.consume_and_commit("t", "g", 10, commit="latest")
