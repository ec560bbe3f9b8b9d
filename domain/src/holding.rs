//! The rule every unique value shares (a login name, a real-name identity): at most one account
//! holds it; a claim by its holder changes nothing; a claim of a free value takes it; a claim of
//! a held value is refused, taken over or turned into a duplicate claim, as the aggregate
//! decides; only the holder releases it.

use crate::ids::AccountId;

/// How a value stands for an account that claims or releases it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    /// No account holds it.
    Free,
    /// The account itself holds it (a repeated claim changes nothing).
    Mine,
    /// Another account holds it.
    Other(AccountId),
}

impl Holding {
    /// The standing of `holder`'s value for `account`.
    pub fn of(holder: Option<AccountId>, account: AccountId) -> Self {
        match holder {
            None => Self::Free,
            Some(holder) if holder == account => Self::Mine,
            Some(holder) => Self::Other(holder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_free_mine_or_another_accounts() {
        let (me, other) = (
            AccountId(uuid::Uuid::from_u128(1)),
            AccountId(uuid::Uuid::from_u128(2)),
        );
        assert_eq!(Holding::of(None, me), Holding::Free);
        assert_eq!(Holding::of(Some(me), me), Holding::Mine);
        assert_eq!(Holding::of(Some(other), me), Holding::Other(other));
    }
}
