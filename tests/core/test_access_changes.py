"""Four eyes (DESIGN §9): the requester and editors never approve, approvals count distinct
people, an edit resets them, a stale request is refused, and the approval rules read."""

from __future__ import annotations

import pytest

from helmforge.core.access.changes import (
    ApprovalRules,
    ChangeRequest,
    approve,
    edit,
    parse_approval_rules,
    reject,
)
from helmforge.core.errors import ConflictError, InputError, PermissionDeniedError


def _request(required: int = 1) -> ChangeRequest:
    return ChangeRequest(
        id=7,
        kind="chart.publish",
        target="shop/acme/prod/eu1",
        payload={"build": "b1", "registry": "harbor"},
        diff="+ version 1.2.3",
        base="tag absent",
        requester="alice",
        required=required,
    )


def test_the_requester_cannot_approve_their_own_request() -> None:
    with pytest.raises(PermissionDeniedError, match="alice requested change request 7"):
        approve(_request(), "alice", current_base="tag absent")


def test_an_editor_cannot_approve_and_an_edit_resets_approvals() -> None:
    approved = approve(_request(required=2), "bob", current_base="tag absent")
    assert approved.approvals == ("bob",)
    edited = edit(approved, "carol", payload={"build": "b2"}, diff="+ 1.2.4")
    assert edited.approvals == ()
    assert edited.payload == {"build": "b2"}
    with pytest.raises(PermissionDeniedError, match="carol edited change request 7"):
        approve(edited, "carol", current_base="tag absent")


def test_approvals_count_distinct_people() -> None:
    request = approve(_request(required=2), "bob", current_base="tag absent")
    assert not request.ready
    with pytest.raises(ConflictError, match="bob already approved"):
        approve(request, "bob", current_base="tag absent")
    request = approve(request, "dave", current_base="tag absent")
    assert request.ready


def test_a_stale_request_must_be_proposed_again() -> None:
    with pytest.raises(ConflictError, match="is stale: shop/acme/prod/eu1 changed"):
        approve(_request(), "bob", current_base="tag at sha256:abc")


def test_a_rejected_request_takes_no_approval_or_edit() -> None:
    rejected = reject(_request(), "bob")
    assert rejected.state == "rejected"
    with pytest.raises(ConflictError, match="is rejected, not pending"):
        approve(rejected, "dave", current_base="tag absent")
    with pytest.raises(ConflictError, match="is rejected, not pending"):
        edit(rejected, "alice", payload={}, diff="")


def test_approval_rules_default_to_one_approver_in_prod() -> None:
    assert ApprovalRules().required_for("prod") == 1
    assert ApprovalRules().required_for("prod-eu") == 0
    rules = parse_approval_rules("prod=2, uat=1")
    assert (rules.required_for("prod"), rules.required_for("uat"), rules.required_for("dev")) == (
        2,
        1,
        0,
    )
    assert parse_approval_rules("").required_for("prod") == 0
    with pytest.raises(InputError, match="'prod' is not ENVIRONMENT=APPROVERS"):
        parse_approval_rules("prod")
    with pytest.raises(InputError, match="at most 10 approvers"):
        parse_approval_rules("prod=11")
