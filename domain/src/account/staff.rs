//! The Account aggregate, staff accounts, created by administrators.

use super::*;

impl Account {
    pub(super) async fn create_staff_account(
        &mut self,
        profile: StaffProfile,
        password_hash: String,
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        if self.exists() {
            return Err(AccountError::AlreadyExists);
        }
        sink.write(
            AccountEvent::StaffAccountCreated {
                profile,
                password_hash,
            },
            self,
        )
        .await;

        Ok(())
    }
}
