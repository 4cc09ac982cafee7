//! Required actions: what an account still owes before a sign-in may finish.
//!
//! They are state of the account (`users.required_actions`), written in the transaction that
//! creates the debt (a temporary password, a recovery reset, a new account) and cleared in the
//! one that pays it. Every sign-in, whatever page it started from, walks the person through what
//! is owed, in the seed's order, before a session or a code exists; a person who closes the
//! browser halfway is asked again next time.

use crate::journey::Step;

/// One thing an account owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RequiredAction {
    /// Replace the service desk's temporary password by one of the person's own.
    ChangePassword,
    /// Choose a secret word and answer five challenge questions.
    EnrolRecovery,
}

impl RequiredAction {
    const ALL: [RequiredAction; 2] = [
        RequiredAction::ChangePassword,
        RequiredAction::EnrolRecovery,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RequiredAction::ChangePassword => "change_password",
            RequiredAction::EnrolRecovery => "enrol_recovery",
        }
    }

    /// The journey steps that pay it.
    pub(crate) fn steps(self) -> &'static [Step] {
        match self {
            RequiredAction::ChangePassword => &[Step::ChangePassword],
            RequiredAction::EnrolRecovery => &crate::journey::ENROL_RECOVERY,
        }
    }
}

/// The set an account owes, kept in the seed's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Owed(Vec<RequiredAction>);

impl Owed {
    /// Reads the column; names this version does not know are dropped (a newer replica's
    /// action is asked for by that replica).
    pub(crate) fn parse(column: &str) -> Owed {
        let mut v: Vec<RequiredAction> = column
            .split_whitespace()
            .filter_map(|n| RequiredAction::ALL.into_iter().find(|a| a.as_str() == n))
            .collect();
        v.sort();
        v.dedup();
        Owed(v)
    }

    /// The column's value.
    pub(crate) fn column(&self) -> String {
        self.0
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, a: RequiredAction) -> bool {
        self.0.contains(&a)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// With `a` owed too.
    pub(crate) fn with(mut self, a: RequiredAction) -> Owed {
        if !self.0.contains(&a) {
            self.0.push(a);
            self.0.sort();
        }
        self
    }

    /// With `a` paid.
    pub(crate) fn without(mut self, a: RequiredAction) -> Owed {
        self.0.retain(|x| *x != a);
        self
    }

    /// The journey steps that pay everything owed, in order.
    pub(crate) fn steps(&self) -> Vec<Step> {
        self.0
            .iter()
            .flat_map(|a| a.steps().iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_round_trips_in_the_seeds_order_and_ignores_unknown_names() {
        let o = Owed::parse("enrol_recovery  something_newer change_password enrol_recovery");
        assert_eq!(o.column(), "change_password enrol_recovery");
        assert_eq!(
            o.steps(),
            [
                Step::ChangePassword,
                Step::EnrollSecretWord,
                Step::EnrollQuestions
            ]
        );
        assert!(Owed::parse("").is_empty());
        let o = o.without(RequiredAction::ChangePassword);
        assert_eq!(o.column(), "enrol_recovery");
        assert!(!o.contains(RequiredAction::ChangePassword));
        assert_eq!(
            Owed::default()
                .with(RequiredAction::EnrolRecovery)
                .with(RequiredAction::ChangePassword)
                .column(),
            "change_password enrol_recovery"
        );
    }
}
