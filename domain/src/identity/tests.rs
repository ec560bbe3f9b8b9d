use super::*;
use crate::values::DocumentType;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

fn doc() -> DocumentSummary {
    DocumentSummary {
        kind: DocumentType::ResidentIdCard,
        number_digest: "abc".into(),
        masked: "51**************1X".into(),
    }
}

fn account(n: u128) -> AccountId {
    AccountId(Uuid::from_u128(n))
}

fn framework() -> TestFramework<Identity> {
    TestFramework::with(())
}

fn bound_to(n: u128) -> Vec<IdentityEvent> {
    vec![IdentityEvent::IdentityBound {
        account_id: account(n),
        document: doc(),
        protected_by: None,
    }]
}

fn claimed(holder: u128, claimant: u128) -> IdentityEvent {
    IdentityEvent::DuplicateIdClaimed {
        claimant: account(claimant),
        holder: account(holder),
        document: doc(),
    }
}

/// Held by 1, claimed by 2.
fn with_claim() -> Vec<IdentityEvent> {
    let mut events = bound_to(1);
    events.push(claimed(1, 2));
    events
}

fn transfer(from: u128, to: u128, method: ProofMethod) -> IdentityEvent {
    IdentityEvent::IdentityTransferred {
        from: account(from),
        to: account(to),
        method,
        document: doc(),
    }
}

fn day(d: u32) -> CivilDate {
    CivilDate::new(2026, 11, d).unwrap()
}

fn photo() -> PhotoRef {
    PhotoRef {
        sha256: "f00".into(),
        content_type: "image/jpeg".into(),
        size: 10,
    }
}

#[test]
fn a_free_identity_binds_and_a_held_one_names_its_holder() {
    framework()
        .given_no_previous_events()
        .when(IdentityCommand::Bind {
            account_id: account(1),
            document: doc(),
            protected_by: None,
        })
        .then_expect_events(bound_to(1));
    framework()
        .given(bound_to(1))
        .when(IdentityCommand::Bind {
            account_id: account(2),
            document: doc(),
            protected_by: None,
        })
        .then_expect_error(IdentityError::AlreadyBound { holder: account(1) });
}

#[test]
fn re_registration_claims_a_held_identity_and_binds_a_free_one() {
    framework()
        .given(bound_to(1))
        .when(IdentityCommand::ClaimDuplicate {
            account_id: account(2),
            document: doc(),
        })
        .then_expect_events(vec![claimed(1, 2)]);
    framework()
        .given_no_previous_events()
        .when(IdentityCommand::ClaimDuplicate {
            account_id: account(2),
            document: doc(),
        })
        .then_expect_events(vec![IdentityEvent::IdentityBound {
            account_id: account(2),
            document: doc(),
            protected_by: None,
        }]);
    // Claiming again (a resumed saga) is not a second claim.
    framework()
        .given(with_claim())
        .when(IdentityCommand::ClaimDuplicate {
            account_id: account(2),
            document: doc(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn an_identity_used_for_conscription_cannot_be_claimed() {
    framework()
        .given(vec![IdentityEvent::IdentityBound {
            account_id: account(1),
            document: doc(),
            protected_by: Some("某县人民政府征兵办公室".into()),
        }])
        .when(IdentityCommand::ClaimDuplicate {
            account_id: account(2),
            document: doc(),
        })
        .then_expect_error(IdentityError::Protected {
            holder: account(1),
            office: "某县人民政府征兵办公室".into(),
        });
}

#[test]
fn matching_records_approve_and_close_the_other_claims() {
    let mut given = with_claim();
    given.push(claimed(1, 3));
    framework()
        .given(given)
        .when(IdentityCommand::ApproveByRecords {
            claimant: account(2),
        })
        .then_expect_events(vec![
            IdentityEvent::ClaimProofSubmitted {
                claimant: account(2),
                method: ProofMethod::Records,
            },
            transfer(1, 2, ProofMethod::Records),
            IdentityEvent::DuplicateIdClaimClosed {
                claimant: account(3),
                reason: "identity_transferred".into(),
            },
        ]);
}

#[test]
fn the_fourth_approval_by_records_is_refused() {
    // Three earlier transfers by records: 1→2, 2→3, 3→4; now 5 claims.
    let mut given = bound_to(1);
    for (from, to) in [(1, 2), (2, 3), (3, 4)] {
        given.push(claimed(from, to));
        given.push(IdentityEvent::ClaimProofSubmitted {
            claimant: account(to),
            method: ProofMethod::Records,
        });
        given.push(transfer(from, to, ProofMethod::Records));
    }
    given.push(claimed(4, 5));
    framework()
        .given(given)
        .when(IdentityCommand::ApproveByRecords {
            claimant: account(5),
        })
        .then_expect_error(IdentityError::RecordProofLimit);
}

#[test]
fn a_second_approval_after_a_transfer_finds_no_open_claim() {
    let mut given = with_claim();
    given.push(claimed(1, 3));
    given.push(transfer(1, 2, ProofMethod::ManualReview));
    given.push(IdentityEvent::DuplicateIdClaimClosed {
        claimant: account(3),
        reason: "identity_transferred".into(),
    });
    framework()
        .given(given)
        .when(IdentityCommand::ApproveByRecords {
            claimant: account(3),
        })
        .then_expect_error(IdentityError::NoOpenClaim);
}

#[test]
fn five_classmate_invitations_a_day_and_no_more() {
    let mut given = with_claim();
    for n in 0..5 {
        given.push(IdentityEvent::ClassmateAssistRequested {
            claimant: account(2),
            request_id: format!("r{n}"),
            classmate: account(10 + n),
            day: day(22),
        });
    }
    let invite = |today| IdentityCommand::RequestClassmateAssist {
        claimant: account(2),
        request_id: "r5".into(),
        classmate: account(20),
        today,
    };
    framework()
        .given(given.clone())
        .when(invite(day(22)))
        .then_expect_error(IdentityError::InvitationLimit);
    framework()
        .given(given)
        .when(invite(day(23)))
        .then_expect_events(vec![IdentityEvent::ClassmateAssistRequested {
            claimant: account(2),
            request_id: "r5".into(),
            classmate: account(20),
            day: day(23),
        }]);
}

#[test]
fn a_classmate_confirming_approves_and_only_the_invited_classmate_can_answer() {
    let mut given = with_claim();
    given.push(IdentityEvent::ClassmateAssistRequested {
        claimant: account(2),
        request_id: "r1".into(),
        classmate: account(10),
        day: day(22),
    });
    framework()
        .given(given.clone())
        .when(IdentityCommand::AnswerClassmateAssist {
            request_id: "r1".into(),
            classmate: account(11),
            confirm: true,
        })
        .then_expect_error(IdentityError::NoSuchAssistRequest);
    framework()
        .given(given)
        .when(IdentityCommand::AnswerClassmateAssist {
            request_id: "r1".into(),
            classmate: account(10),
            confirm: true,
        })
        .then_expect_events(vec![
            IdentityEvent::ClassmateAssistConfirmed {
                claimant: account(2),
                request_id: "r1".into(),
                classmate: account(10),
            },
            transfer(1, 2, ProofMethod::Classmate),
        ]);
}

#[test]
fn manual_review_can_be_rejected_then_requested_again_then_approved() {
    let mut given = with_claim();
    given.push(IdentityEvent::ManualReviewRequested {
        claimant: account(2),
        photo: photo(),
    });
    framework()
        .given(given.clone())
        .when(IdentityCommand::RequestManualReview {
            claimant: account(2),
            photo: photo(),
        })
        .then_expect_error(IdentityError::ReviewPending);
    given.push(IdentityEvent::ManualReviewRejected {
        claimant: account(2),
        reason: "照片不清晰".into(),
    });
    framework()
        .given(given.clone())
        .when(IdentityCommand::RequestManualReview {
            claimant: account(2),
            photo: photo(),
        })
        .then_expect_events(vec![IdentityEvent::ManualReviewRequested {
            claimant: account(2),
            photo: photo(),
        }]);
    given.push(IdentityEvent::ManualReviewRequested {
        claimant: account(2),
        photo: photo(),
    });
    framework()
        .given(given)
        .when(IdentityCommand::ApproveManualReview {
            claimant: account(2),
        })
        .then_expect_events(vec![
            IdentityEvent::ManualReviewApproved {
                claimant: account(2),
            },
            transfer(1, 2, ProofMethod::ManualReview),
        ]);
}

#[test]
fn three_failed_real_person_checks_fall_back_to_manual_review() {
    let mut given = with_claim();
    for n in 1..=2 {
        given.push(IdentityEvent::LivenessCheckStarted {
            claimant: account(2),
            session_id: format!("s{n}"),
        });
        given.push(IdentityEvent::LivenessCheckFailed {
            claimant: account(2),
            session_id: format!("s{n}"),
            failures: n,
            manual_review_required: false,
        });
    }
    given.push(IdentityEvent::LivenessCheckStarted {
        claimant: account(2),
        session_id: "s3".into(),
    });
    framework()
        .given(given.clone())
        .when(IdentityCommand::RecordLivenessResult {
            session_id: "s3".into(),
            passed: false,
        })
        .then_expect_events(vec![IdentityEvent::LivenessCheckFailed {
            claimant: account(2),
            session_id: "s3".into(),
            failures: 3,
            manual_review_required: true,
        }]);
    given.push(IdentityEvent::LivenessCheckFailed {
        claimant: account(2),
        session_id: "s3".into(),
        failures: 3,
        manual_review_required: true,
    });
    framework()
        .given(given.clone())
        .when(IdentityCommand::StartLivenessCheck {
            claimant: account(2),
            session_id: "s4".into(),
        })
        .then_expect_error(IdentityError::LivenessExhausted);
    // A replayed result for a finished session changes nothing.
    framework()
        .given(given)
        .when(IdentityCommand::RecordLivenessResult {
            session_id: "s3".into(),
            passed: true,
        })
        .then_expect_error(IdentityError::NoSuchLivenessSession);
}

#[test]
fn a_withdrawn_claim_is_gone_and_a_released_binding_frees_the_identity() {
    framework()
        .given(with_claim())
        .when(IdentityCommand::Release {
            account_id: account(2),
        })
        .then_expect_events(vec![IdentityEvent::DuplicateIdClaimWithdrawn {
            claimant: account(2),
        }]);
    framework()
        .given(bound_to(1))
        .when(IdentityCommand::Release {
            account_id: account(1),
        })
        .then_expect_events(vec![IdentityEvent::IdentityReleased {
            account_id: account(1),
            document: doc(),
        }]);
}
