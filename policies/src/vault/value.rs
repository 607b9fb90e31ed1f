//! A loaded secret: the configured fields, each wrapped in [`Secret`].

use super::error::VaultError;
use crate::secret::Secret;
use std::collections::BTreeMap;

/// The configured fields of one secret. `Debug` shows field names only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretValue {
    fields: BTreeMap<String, Secret>,
}

impl SecretValue {
    pub fn new(fields: BTreeMap<String, Secret>) -> Self {
        Self { fields }
    }

    /// One field's value.
    pub fn field(&self, name: &str) -> Option<&Secret> {
        self.fields.get(name)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Picks `wanted` from a Vault data map; strings as-is, numbers and
    /// booleans as text. A missing or structured field is an error naming it.
    pub fn select(
        data: &serde_json::Map<String, serde_json::Value>,
        wanted: &[String],
    ) -> Result<Self, VaultError> {
        let mut fields = BTreeMap::new();
        for name in wanted {
            let text = match data.get(name) {
                None => return Err(VaultError::FieldMissing(name.clone())),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                Some(_) => return Err(VaultError::FieldNotText(name.clone())),
            };
            fields.insert(name.clone(), Secret::new(text));
        }
        Ok(Self { fields })
    }
}
