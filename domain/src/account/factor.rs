//! The Account aggregate, a staff member's second factor (TOTP, RFC 6238) and the staff
//! account's administration (disable).
//!
//! The aggregate never sees a code or a secret: the application derives the TOTP secret from
//! the service's key and the enrolment's nonce, checks the code, and tells the aggregate which
//! time step it matched. The aggregate decides what must be decided once: a step is accepted
//! only if it is later than the last one accepted (a code cannot be used twice, also by two
//! parallel requests: the second append conflicts), and a recovery code (kept as a keyed
//! digest) only while unused.

use super::*;

/// An enrolled second factor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactor {
    /// With the service's key, names the TOTP secret (the secret itself is never stored).
    pub nonce: String,
    /// The last time step accepted; a code of this step or an earlier one is refused.
    pub last_step: u64,
    /// Keyed digests of the recovery codes; `None` once used.
    pub recovery_codes: Vec<Option<String>>,
}

impl Account {
    /// The enrolled second factor, for staff accounts that have one.
    pub fn second_factor(&self) -> Option<&SecondFactor> {
        self.factor.as_ref()
    }

    /// Whether an administrator disabled this staff account.
    pub fn staff_disabled(&self) -> bool {
        self.staff_disabled
    }

    fn require_staff(&self) -> Result<(), AccountError> {
        self.require_status()?;
        if self.staff.is_none() {
            return Err(AccountError::NotStaff);
        }
        Ok(())
    }

    /// The enrolled factor of a staff account.
    fn enrolled_factor(&self) -> Result<&SecondFactor, AccountError> {
        self.require_staff()?;
        self.factor
            .as_ref()
            .ok_or(AccountError::SecondFactorNotEnrolled)
    }

    pub(super) async fn enrol_second_factor(
        &mut self,
        nonce: String,
        recovery_codes: Vec<String>,
        step: u64,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_staff()?;
        if self.factor.is_some() {
            return Err(AccountError::SecondFactorEnrolled);
        }
        sink.write(
            AccountEvent::SecondFactorEnrolled {
                nonce,
                recovery_codes,
                step,
            },
            self,
        )
        .await;
        Ok(())
    }

    pub(super) async fn pass_second_factor(
        &mut self,
        step: u64,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let factor = self.enrolled_factor()?;
        if step <= factor.last_step {
            return Err(AccountError::SecondFactorCodeUsed);
        }
        sink.write(AccountEvent::SecondFactorPassed { step }, self)
            .await;
        Ok(())
    }

    pub(super) async fn use_recovery_code(
        &mut self,
        digest: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let factor = self.enrolled_factor()?;
        let index = factor
            .recovery_codes
            .iter()
            .position(|code| code.as_deref() == Some(digest.as_str()))
            .ok_or(AccountError::RecoveryCodeInvalid)?;
        let remaining = factor.recovery_codes.iter().flatten().count() as u32 - 1;
        sink.write(
            AccountEvent::RecoveryCodeUsed {
                index: index as u32,
                remaining,
            },
            self,
        )
        .await;
        Ok(())
    }

    pub(super) async fn reset_second_factor(
        &mut self,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_staff()?;
        if self.factor.is_none() {
            return Err(AccountError::SecondFactorNotEnrolled);
        }
        sink.write(AccountEvent::SecondFactorReset, self).await;
        Ok(())
    }

    pub(super) async fn disable_staff_account(
        &mut self,
        reason: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_staff()?;
        if self.staff_disabled {
            return Err(AccountError::StaffDisabled);
        }
        sink.write(AccountEvent::StaffAccountDisabled { reason }, self)
            .await;
        Ok(())
    }

    pub(super) fn apply_factor(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::SecondFactorEnrolled {
                nonce,
                recovery_codes,
                step,
            } => {
                self.factor = Some(SecondFactor {
                    nonce: nonce.clone(),
                    last_step: *step,
                    recovery_codes: recovery_codes.iter().cloned().map(Some).collect(),
                });
            }
            AccountEvent::SecondFactorPassed { step } => {
                if let Some(factor) = &mut self.factor {
                    factor.last_step = *step;
                }
            }
            AccountEvent::RecoveryCodeUsed { index, .. } => {
                if let Some(code) = self
                    .factor
                    .as_mut()
                    .and_then(|factor| factor.recovery_codes.get_mut(*index as usize))
                {
                    *code = None;
                }
            }
            AccountEvent::SecondFactorReset => self.factor = None,
            AccountEvent::StaffAccountDisabled { .. } => self.staff_disabled = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::roles::StaffRole;

    fn staff() -> Vec<AccountEvent> {
        vec![AccountEvent::StaffAccountCreated {
            profile: StaffProfile {
                username: "rev".into(),
                display_name: "Reviewer".into(),
                role: StaffRole::Reviewer,
                scope: None,
                contact_phone: None,
            },
            password_hash: "x$pw".into(),
        }]
    }

    fn enrolled() -> Vec<AccountEvent> {
        let mut events = staff();
        events.push(AccountEvent::SecondFactorEnrolled {
            nonce: "n".into(),
            recovery_codes: vec!["a".into(), "b".into()],
            step: 100,
        });
        events
    }

    fn run(
        given: Vec<AccountEvent>,
        command: AccountCommand,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        framework().given(given).when(command).inspect_result()
    }

    #[test]
    fn a_step_is_accepted_once_and_only_forward() {
        assert_eq!(
            run(enrolled(), AccountCommand::PassSecondFactor { step: 101 }),
            Ok(vec![AccountEvent::SecondFactorPassed { step: 101 }])
        );
        let mut passed = enrolled();
        passed.push(AccountEvent::SecondFactorPassed { step: 101 });
        for step in [99, 100, 101] {
            assert_eq!(
                run(passed.clone(), AccountCommand::PassSecondFactor { step }),
                Err(AccountError::SecondFactorCodeUsed)
            );
        }
        assert_eq!(
            run(staff(), AccountCommand::PassSecondFactor { step: 101 }),
            Err(AccountError::SecondFactorNotEnrolled)
        );
    }

    #[test]
    fn a_recovery_code_works_once() {
        let used = run(
            enrolled(),
            AccountCommand::UseRecoveryCode { digest: "b".into() },
        );
        assert_eq!(
            used,
            Ok(vec![AccountEvent::RecoveryCodeUsed {
                index: 1,
                remaining: 1
            }])
        );
        let mut after = enrolled();
        after.extend(used.unwrap_or_default());
        for digest in ["b", "c"] {
            assert_eq!(
                run(
                    after.clone(),
                    AccountCommand::UseRecoveryCode {
                        digest: digest.into()
                    }
                ),
                Err(AccountError::RecoveryCodeInvalid)
            );
        }
    }

    #[test]
    fn enrolment_once_until_reset_and_only_for_staff() {
        let enrol = || AccountCommand::EnrolSecondFactor {
            nonce: "m".into(),
            recovery_codes: vec![],
            step: 5,
        };
        assert_eq!(
            run(enrolled(), enrol()),
            Err(AccountError::SecondFactorEnrolled)
        );
        let mut reset = enrolled();
        reset.push(AccountEvent::SecondFactorReset);
        assert!(run(reset, enrol()).is_ok());
        assert_eq!(
            run(registered("x$pw"), enrol()),
            Err(AccountError::NotStaff)
        );
    }

    #[test]
    fn a_disabled_staff_account_cannot_log_in() {
        let mut disabled = staff();
        disabled.push(AccountEvent::StaffAccountDisabled {
            reason: "left".into(),
        });
        let login = || AccountCommand::Login {
            password: Secret::new("pw".to_string()),
            via: LoginVia::StaffUsername,
        };
        assert!(run(staff(), login()).is_ok());
        assert_eq!(run(disabled, login()), Err(AccountError::CannotLogIn));
    }
}
