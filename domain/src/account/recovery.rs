//! The Account aggregate, recovery: security questions and answers, reset by e-mail.

use super::*;

impl Account {
    pub(super) async fn check_security_answers(
        &mut self,
        answers: Vec<crate::values::Secret>,
        services: &AccountServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        if self.security_questions.is_empty() {
            return Err(AccountError::NoSecurityQuestions);
        }
        let now = services.clock.now();
        if let Some(until) = self.security_closed_until.filter(|u| *u > now) {
            return Err(AccountError::SecurityQuestionsClosed { until });
        }
        let mut all_match = answers.len() == self.security_questions.len();
        for (stored, answer) in self.security_questions.clone().iter().zip(&answers) {
            // Every answer is checked, so the time does not tell which one was wrong.
            let verdict = services.hasher.verify(&stored.answer_hash, answer).await?;
            all_match &= verdict.matches;
        }
        if all_match {
            sink.write(AccountEvent::SecurityAnswersAccepted, self)
                .await;
        } else {
            let failures = self.security_failures + 1;
            let closed_until = (failures >= SECURITY_ANSWER_ATTEMPTS)
                .then(|| now.plus_seconds(SECURITY_CLOSED_SECONDS));
            sink.write(
                AccountEvent::SecurityAnswersFailed {
                    failures,
                    closed_until,
                },
                self,
            )
            .await;
        }
        Ok(())
    }

    pub(super) async fn set_security_questions(
        &mut self,
        questions: Vec<super::events::StoredSecurityQuestion>,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        sink.write(AccountEvent::SecurityQuestionsSet { questions }, self)
            .await;

        Ok(())
    }

    pub(super) async fn request_password_reset_by_email(
        &mut self,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        self.require_usable()?;
        if !self.email.as_ref().is_some_and(|e| e.verified) {
            return Err(AccountError::NoEmail);
        }
        sink.write(
            AccountEvent::PasswordResetRequested {
                channel: "email".into(),
                generation: self.credential_generation,
            },
            self,
        )
        .await;

        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    fn with_questions() -> Vec<AccountEvent> {
        let mut events = registered("x$pw");
        events.push(AccountEvent::SecurityQuestionsSet {
            questions: ["a", "b", "c"]
                .iter()
                .map(|q| StoredSecurityQuestion {
                    question: format!("q{q}"),
                    answer_hash: format!("x${q}"),
                })
                .collect(),
        });
        events
    }

    fn answers(a: &[&str]) -> AccountCommand {
        AccountCommand::CheckSecurityAnswers {
            answers: a.iter().map(|s| Secret::new(*s)).collect(),
        }
    }

    #[test]
    fn all_three_security_answers_must_match() {
        framework()
            .given(with_questions())
            .when(answers(&["a", "b", "c"]))
            .then_expect_events(vec![AccountEvent::SecurityAnswersAccepted]);
        framework()
            .given(with_questions())
            .when(answers(&["a", "b", "x"]))
            .then_expect_events(vec![AccountEvent::SecurityAnswersFailed {
                failures: 1,
                closed_until: None,
            }]);
    }

    #[test]
    fn three_wrong_answers_close_the_questions_for_a_day() {
        let mut given = with_questions();
        for failures in 1..=2 {
            given.push(AccountEvent::SecurityAnswersFailed {
                failures,
                closed_until: None,
            });
        }
        framework()
            .given(given.clone())
            .when(answers(&["x", "x", "x"]))
            .then_expect_events(vec![AccountEvent::SecurityAnswersFailed {
                failures: 3,
                closed_until: Some(NOW.plus_seconds(SECURITY_CLOSED_SECONDS)),
            }]);
        given.push(AccountEvent::SecurityAnswersFailed {
            failures: 3,
            closed_until: Some(NOW.plus_seconds(SECURITY_CLOSED_SECONDS)),
        });
        framework()
            .given(given)
            .when(answers(&["a", "b", "c"]))
            .then_expect_error(AccountError::SecurityQuestionsClosed {
                until: NOW.plus_seconds(SECURITY_CLOSED_SECONDS),
            });
    }

    #[test]
    fn a_reset_or_change_kills_recovery_tokens_of_the_generation_before() {
        let reset = |generation| AccountCommand::ResetPassword {
            password_hash: "x$new".into(),
            reason: "sms".into(),
            generation: Some(generation),
        };
        framework()
            .given(registered("x$pw"))
            .when(AccountCommand::RequestPasswordResetByEmail)
            .then_expect_error(AccountError::NoEmail);
        let mut given = registered("x$pw");
        given.push(AccountEvent::EmailVerified {
            email: "a@example.com".into(),
        });
        framework()
            .given(given.clone())
            .when(AccountCommand::RequestPasswordResetByEmail)
            .then_expect_events(vec![AccountEvent::PasswordResetRequested {
                channel: "email".into(),
                generation: 0,
            }]);
        framework()
            .given(given.clone())
            .when(reset(0))
            .then_expect_events(vec![AccountEvent::PasswordReset {
                password_hash: "x$new".into(),
                reason: "sms".into(),
            }]);
        given.push(AccountEvent::PasswordChanged {
            password_hash: "x$other".into(),
        });
        framework()
            .given(given)
            .when(reset(0))
            .then_expect_error(AccountError::StaleRecoveryToken);
    }
}
