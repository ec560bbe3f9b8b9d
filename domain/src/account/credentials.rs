//! The Account aggregate, credentials and lockout: login, failures and locks, password changes and resets.

use super::*;

impl Account {
    /// Refuses while a lock runs; records the unlock of a lock that has run out.
    pub(super) async fn pass_lock(
        &mut self,
        now: Timestamp,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if let Some(until) = self.locked_until {
            if until > now {
                return Err(AccountError::Locked { until });
            }
            sink.write(
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::Expired,
                },
                self,
            )
            .await;
        }
        Ok(())
    }

    pub(super) async fn login(
        &mut self,
        password: crate::values::Secret,
        via: crate::ids::LoginVia,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let status = self
            .require_status()
            .map_err(|_| AccountError::CannotLogIn)?;
        if !status.can_log_in() || self.staff_disabled {
            return Err(AccountError::CannotLogIn);
        }
        // An e-mail is a login name only once verified (seed 001: 验证通过后可凭此邮箱…).
        let email_verified = self.email.as_ref().is_some_and(|e| e.verified);
        if via == crate::ids::LoginVia::Email && !email_verified {
            return Err(AccountError::CannotLogIn);
        }
        let now = services.clock.now();
        // The password is checked during a lock too, and only the right one is told of the
        // lock: a wrong one gets the answer an unknown name gets (issue 13), and adds nothing.
        let locked_until = self.locked_until.filter(|until| *until > now);
        let verification = services
            .hasher
            .verify(&self.password_hash, &password)
            .await?;
        if let Some(until) = locked_until {
            return if verification.matches {
                Err(AccountError::Locked { until })
            } else {
                Ok(())
            };
        }
        if !verification.matches {
            // Recorded later, through the service's queue (`RecordLoginFailure`).
            return Ok(());
        }
        self.pass_lock(now, sink).await?;
        sink.write(AccountEvent::LoginSucceeded { via }, self).await;
        if verification.needs_rehash {
            let password_hash = services.hasher.hash(&password).await?;
            sink.write(AccountEvent::PasswordRehashed { password_hash }, self)
                .await;
        }
        Ok(())
    }

    /// A wrong password the service queued: one more failure in a row, and a lock at the
    /// threshold. During a lock it adds nothing; an account that cannot log in ignores it.
    pub(super) async fn record_login_failure(
        &mut self,
        via: crate::ids::LoginVia,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if !self.status.is_some_and(|s| s.can_log_in()) {
            return Ok(());
        }
        let now = services.clock.now();
        if self.locked_until.is_some_and(|until| until > now) {
            return Ok(());
        }
        self.pass_lock(now, sink).await?;
        let consecutive_failures = self.consecutive_failures + 1;
        sink.write(
            AccountEvent::LoginFailed {
                via,
                consecutive_failures,
            },
            self,
        )
        .await;
        if consecutive_failures >= services.lockout.threshold {
            let lock_count = self.lock_count + 1;
            let until = now.plus_seconds(services.lockout.lock_seconds(lock_count));
            sink.write(AccountEvent::AccountLocked { until, lock_count }, self)
                .await;
        }
        Ok(())
    }

    pub(super) async fn change_password(
        &mut self,
        password_hash: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        sink.write(AccountEvent::PasswordChanged { password_hash }, self)
            .await;

        Ok(())
    }

    pub(super) async fn reset_password(
        &mut self,
        password_hash: String,
        reason: String,
        generation: Option<u32>,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let status = self.require_status()?;
        if generation.is_some_and(|g| g != self.credential_generation) {
            return Err(AccountError::StaleRecoveryToken);
        }
        if matches!(
            status,
            AccountStatus::Deactivated | AccountStatus::Abandoned
        ) {
            return Err(AccountError::CannotLogIn);
        }
        let locked = self
            .locked_until
            .is_some_and(|until| until > services.clock.now());
        sink.write(
            AccountEvent::PasswordReset {
                password_hash,
                reason,
            },
            self,
        )
        .await;
        if locked {
            sink.write(
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::PasswordReset,
                },
                self,
            )
            .await;
        }

        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn a_password_reset_lifts_the_lock() {
        let mut locked = registered("x$pw");
        locked.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(600),
            lock_count: 1,
        });
        locked.push(AccountEvent::PasswordReset {
            password_hash: "x$new".into(),
            reason: "conscription_office".into(),
        });
        framework()
            .given(locked)
            .when(login("new"))
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Phone,
            }]);
    }

    #[test]
    fn a_registering_account_cannot_log_in() {
        framework()
            .given(vec![AccountEvent::RegistrationStarted(details("x$pw"))])
            .when(login("pw"))
            .then_expect_error(AccountError::CannotLogIn);
    }

    #[test]
    fn a_correct_password_logs_in() {
        framework()
            .given(registered("x$pw"))
            .when(login("pw"))
            .then_expect_events(vec![AccountEvent::LoginSucceeded {
                via: LoginVia::Phone,
            }]);
    }

    #[test]
    fn an_outdated_hash_is_replaced_at_login() {
        framework()
            .given(registered("old$pw"))
            .when(login("pw"))
            .then_expect_events(vec![
                AccountEvent::LoginSucceeded {
                    via: LoginVia::Phone,
                },
                AccountEvent::PasswordRehashed {
                    password_hash: "new$pw".into(),
                },
            ]);
    }

    #[test]
    fn a_wrong_password_records_nothing_at_login_and_its_queued_failure_counts() {
        framework()
            .given(registered("x$pw"))
            .when(login("nope"))
            .then_expect_events(vec![]);
        framework()
            .given(registered("x$pw"))
            .when(wrong_password())
            .then_expect_events(failures(1));
    }

    #[test]
    fn a_queued_failure_adds_nothing_during_a_lock() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(wrong_password())
            .then_expect_events(vec![]);
    }

    #[test]
    fn login_fails_after_five_wrong_passwords_with_a_timed_lock() {
        let mut given = registered("x$pw");
        given.extend(failures(4));
        framework()
            .given(given)
            .when(wrong_password())
            .then_expect_events(vec![
                AccountEvent::LoginFailed {
                    via: LoginVia::Phone,
                    consecutive_failures: 5,
                },
                AccountEvent::AccountLocked {
                    until: NOW.plus_seconds(15 * 60),
                    lock_count: 1,
                },
            ]);
    }

    #[test]
    fn a_locked_account_refuses_even_the_right_password() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(login("pw"))
            .then_expect_error(AccountError::Locked {
                until: NOW.plus_seconds(60),
            });
    }

    #[test]
    fn a_wrong_password_during_a_lock_is_not_told_of_the_lock_and_adds_nothing() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(login("wrong"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_reset_lifts_an_active_lock_with_an_event() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(60),
            lock_count: 1,
        });
        let reset = AccountCommand::ResetPassword {
            password_hash: "x$new".into(),
            reason: "sms".into(),
            generation: None,
        };
        framework()
            .given(given)
            .when(reset.clone())
            .then_expect_events(vec![
                AccountEvent::PasswordReset {
                    password_hash: "x$new".into(),
                    reason: "sms".into(),
                },
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::PasswordReset,
                },
            ]);
        framework()
            .given(registered("x$pw"))
            .when(reset)
            .then_expect_events(vec![AccountEvent::PasswordReset {
                password_hash: "x$new".into(),
                reason: "sms".into(),
            }]);
    }

    #[test]
    fn an_expired_lock_is_lifted_at_the_next_attempt() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(-1),
            lock_count: 1,
        });
        framework()
            .given(given)
            .when(login("pw"))
            .then_expect_events(vec![
                AccountEvent::AccountUnlocked {
                    reason: UnlockReason::Expired,
                },
                AccountEvent::LoginSucceeded {
                    via: LoginVia::Phone,
                },
            ]);
    }

    #[test]
    fn repeated_locks_grow_but_stay_bounded() {
        let mut given = registered("x$pw");
        given.push(AccountEvent::AccountLocked {
            until: NOW.plus_seconds(-1),
            lock_count: 1,
        });
        given.push(AccountEvent::AccountUnlocked {
            reason: UnlockReason::Expired,
        });
        given.extend(failures(4));
        let result = framework()
            .given(given)
            .when(wrong_password())
            .inspect_result()
            .unwrap();
        assert_eq!(
            result.last(),
            Some(&AccountEvent::AccountLocked {
                until: NOW.plus_seconds(30 * 60),
                lock_count: 2,
            })
        );
        let policy = LockoutPolicy::default();
        assert_eq!(policy.lock_seconds(100), policy.max_lock_seconds);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut given = registered("x$pw");
        given.extend(failures(4));
        given.push(AccountEvent::LoginSucceeded {
            via: LoginVia::Email,
        });
        framework()
            .given(given)
            .when(wrong_password())
            .then_expect_events(failures(1));
    }

    #[test]
    fn an_overloaded_hasher_records_nothing() {
        TestFramework::<Account>::with(AccountServices {
            clock: Arc::new(FixedClock(NOW)),
            hasher: Arc::new(SaturatedHasher),
            lockout: LockoutPolicy::default(),
            email_verification_ttl_seconds: EMAIL_VERIFICATION_TTL_SECONDS,
        })
        .given(registered("x$pw"))
        .when(login("pw"))
        .then_expect_error(AccountError::HasherUnavailable);
    }
}
