//! What a consent grants: the grantee's role and a non-empty set of scopes (domain §3, §5).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::ValueError;

name_enum! {
    /// Who a consent can name as grantee. Patients do not grant to auditors: auditors read by
    /// role, not by consent (domain §5).
    pub enum GranteeRole {
        Therapist => "therapist",
        Clinic => "clinic",
    }
}

name_enum! {
    /// A slice of a patient's record that a consent opens to its grantee.
    pub enum Scope {
        /// Dose schedule and administration.
        Doses => "doses",
        Vitals => "vitals",
        SideEffects => "side_effects",
        /// Targets and their practice.
        Targets => "targets",
        Sessions => "sessions",
        /// Patient notes and ratings.
        Observations => "observations",
        /// PHQ-9, GAD-7, MADRS and CADSS scores.
        Scores => "scores",
    }
}

/// The scopes of one consent: at least one, each once. Encoded as a list in [`Scope`] order;
/// a list naming a scope twice is refused rather than silently merged, because a decoder that
/// quietly fixes input hides the bug that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<Scope>", into = "Vec<Scope>")]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// The set of the given scopes; duplicates in the input collapse, but the set must not be
    /// empty.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, ValueError> {
        let set: BTreeSet<Scope> = scopes.into_iter().collect();
        if set.is_empty() {
            return Err(ValueError::ScopesEmpty);
        }
        Ok(Self(set))
    }

    /// A set of exactly one scope.
    pub fn one(scope: Scope) -> Self {
        Self(BTreeSet::from([scope]))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes in [`Scope`] order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a scope set is never empty. Present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<Scope>> for Scopes {
    type Error = ValueError;
    fn try_from(list: Vec<Scope>) -> Result<Self, ValueError> {
        let mut set = BTreeSet::new();
        for scope in list {
            if !set.insert(scope) {
                return Err(ValueError::ScopeRepeated(scope));
            }
        }
        Self::new(set)
    }
}

impl From<Scopes> for Vec<Scope> {
    fn from(value: Scopes) -> Vec<Scope> {
        value.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists() {
        fn check(json: &str, expected: Result<&[Scope], &str>) {
            let decoded = serde_json::from_str::<Scopes>(json);
            match expected {
                Ok(scopes) => {
                    let decoded = decoded.expect(json);
                    assert_eq!(decoded.iter().collect::<Vec<_>>(), scopes, "{json}");
                }
                Err(message) => {
                    let error = decoded.expect_err(json).to_string();
                    assert!(error.contains(message), "{json}: {error}");
                }
            }
        }
        check(r#"["doses"]"#, Ok(&[Scope::Doses]));
        check(
            r#"["scores","doses","side_effects"]"#,
            Ok(&[Scope::Doses, Scope::SideEffects, Scope::Scores]),
        );
        check(r#"[]"#, Err("at least one scope"));
        check(
            r#"["vitals","vitals"]"#,
            Err("scope vitals is listed twice"),
        );
        check(r#"["everything"]"#, Err("unknown variant"));
        check(r#""doses""#, Err("invalid type"));
    }

    #[test]
    fn scopes_encode_in_scope_order() {
        let scopes = Scopes::new([Scope::Scores, Scope::Doses, Scope::Scores]).expect("valid");
        assert_eq!(scopes.len(), 2);
        assert_eq!(
            serde_json::to_string(&scopes).expect("json"),
            r#"["doses","scores"]"#
        );
        let wire = postcard::to_allocvec(&scopes).expect("postcard");
        assert_eq!(
            postcard::from_bytes::<Scopes>(&wire).expect("decode"),
            scopes
        );
        let empty = postcard::to_allocvec(&Vec::<Scope>::new()).expect("postcard");
        assert!(postcard::from_bytes::<Scopes>(&empty).is_err());
        assert_eq!(Scopes::new([]), Err(ValueError::ScopesEmpty));
        assert!(Scopes::one(Scope::Vitals).contains(Scope::Vitals));
    }

    #[test]
    fn scope_and_grantee_names() {
        let names: Vec<&str> = Scope::ALL.iter().map(Scope::as_str).collect();
        assert_eq!(
            names,
            [
                "doses",
                "vitals",
                "side_effects",
                "targets",
                "sessions",
                "observations",
                "scores"
            ]
        );
        assert_eq!(
            serde_json::to_string(&GranteeRole::Therapist).expect("json"),
            "\"therapist\""
        );
        assert!(serde_json::from_str::<GranteeRole>("\"auditor\"").is_err());
    }
}
