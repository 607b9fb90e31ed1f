//! Claim conditions on verified token claims, and claim-to-header rendering.
//!
//! Comparisons are type-strict: the string `"1"` does not equal the number
//! `1`, and a type mismatch is a failed check, never a panic. Denials name
//! the claim path and the failed check, never the claim's value.

mod condition;
mod config;
mod extract;
mod path;
mod value;

pub use condition::{ClaimDenied, Condition, Leaf, Operator};
pub use config::{ConditionConfig, MAX_NESTING};
pub use extract::{
    extract, ArrayFormat, ClaimExtractor, ExtractConfig, ExtractSkipped, DEFAULT_MAX_LENGTH,
};
pub use path::{ClaimPath, ClaimPathConfig};
pub use value::{Scalar, StringAsSet};

#[cfg(test)]
mod tests;
