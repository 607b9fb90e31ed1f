//! Compiled claim conditions and their evaluation.

use serde_json::{Map, Value};

use super::path::ClaimPath;
use super::value::{Members, Scalar, StringAsSet};
use crate::routes::FullMatchRegex;

/// A compiled condition tree.
#[derive(Clone, Debug)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Leaf(Leaf),
}

/// One claim test.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub path: ClaimPath,
    pub op: Operator,
    /// How `contains*` read a string claim.
    pub strings: StringAsSet,
}

#[derive(Clone, Debug)]
pub enum Operator {
    /// Same type and value; an array claim never equals a scalar.
    Equals(Scalar),
    /// The (scalar) claim equals one of these.
    OneOf(Vec<Scalar>),
    /// The array (or space-separated) claim has this member.
    Contains(Scalar),
    ContainsAny(Vec<Scalar>),
    ContainsAll(Vec<Scalar>),
    /// A string claim fully matches.
    Regex(FullMatchRegex),
    /// The claim exists and is not `null`.
    Present,
    /// The claim is missing or `null`.
    Absent,
}

impl Operator {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Equals(_) => "equals",
            Self::OneOf(_) => "one_of",
            Self::Contains(_) => "contains",
            Self::ContainsAny(_) => "contains_any",
            Self::ContainsAll(_) => "contains_all",
            Self::Regex(_) => "regex",
            Self::Present => "present",
            Self::Absent => "absent",
        }
    }
}

/// Why the claims did not satisfy a condition. Names claim paths and the
/// failed check, never claim values (they may be personal data).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimDenied {
    /// A required claim is missing (or `null`).
    #[error("claim `{claim}` is missing")]
    MissingClaim { claim: String },
    /// The claim is there but fails the check (wrong type counts as failing).
    #[error("claim `{claim}` fails `{check}`")]
    FailedCheck { claim: String, check: &'static str },
    /// A `not` whose inner condition held; names the claims it looked at.
    #[error("claims `{claims}` match a forbidden condition")]
    ForbiddenMatch { claims: String },
    /// No branch of an `any` held; names each branch's failed claim.
    #[error("no alternative holds: {claims}")]
    NoAlternative { claims: String },
}

impl ClaimDenied {
    /// `claim_missing` or `claim_mismatch`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::MissingClaim { .. } => "claim_missing",
            _ => "claim_mismatch",
        }
    }

    fn claims(&self) -> &str {
        match self {
            Self::MissingClaim { claim } | Self::FailedCheck { claim, .. } => claim,
            Self::ForbiddenMatch { claims } | Self::NoAlternative { claims } => claims,
        }
    }
}

impl Condition {
    /// Evaluates against verified token claims. `Ok(())` allows.
    pub fn evaluate(&self, claims: &Map<String, Value>) -> Result<(), ClaimDenied> {
        match self {
            Self::All(items) => items.iter().try_for_each(|c| c.evaluate(claims)),
            Self::Any(items) => {
                let mut failed = Vec::with_capacity(items.len());
                for c in items {
                    match c.evaluate(claims) {
                        Ok(()) => return Ok(()),
                        Err(denied) => failed.push(denied.claims().to_string()),
                    }
                }
                Err(ClaimDenied::NoAlternative {
                    claims: failed.join(" | "),
                })
            }
            Self::Not(inner) => match inner.evaluate(claims) {
                Ok(()) => {
                    let mut paths = Vec::new();
                    inner.collect_paths(&mut paths);
                    Err(ClaimDenied::ForbiddenMatch {
                        claims: paths.join(", "),
                    })
                }
                Err(_) => Ok(()),
            },
            Self::Leaf(leaf) => leaf.evaluate(claims),
        }
    }

    fn collect_paths(&self, out: &mut Vec<String>) {
        match self {
            Self::All(items) | Self::Any(items) => items.iter().for_each(|c| c.collect_paths(out)),
            Self::Not(inner) => inner.collect_paths(out),
            Self::Leaf(leaf) => {
                let p = leaf.path.to_string();
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
}

impl Leaf {
    fn evaluate(&self, claims: &Map<String, Value>) -> Result<(), ClaimDenied> {
        let value = self.path.lookup(claims).filter(|v| !v.is_null());
        let Some(value) = value else {
            return match self.op {
                Operator::Absent => Ok(()),
                _ => Err(ClaimDenied::MissingClaim {
                    claim: self.path.to_string(),
                }),
            };
        };
        let holds = match &self.op {
            Operator::Present => true,
            Operator::Absent => false,
            Operator::Equals(s) => s.equals(value),
            Operator::OneOf(set) => set.iter().any(|s| s.equals(value)),
            Operator::Regex(r) => value.as_str().is_some_and(|s| r.is_full_match(s)),
            Operator::Contains(s) => self.members(value).is_some_and(|m| m.contains(s)),
            Operator::ContainsAny(set) => self
                .members(value)
                .is_some_and(|m| set.iter().any(|s| m.contains(s))),
            Operator::ContainsAll(set) => self
                .members(value)
                .is_some_and(|m| set.iter().all(|s| m.contains(s))),
        };
        if holds {
            Ok(())
        } else {
            Err(ClaimDenied::FailedCheck {
                claim: self.path.to_string(),
                check: self.op.name(),
            })
        }
    }

    fn members<'v>(&self, value: &'v Value) -> Option<Members<'v>> {
        Members::of(value, self.strings)
    }
}
