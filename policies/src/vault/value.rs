//! A loaded secret: the configured fields, each wrapped in [`Secret`].

use super::error::VaultError;
use crate::secret::Secret;
use crate::vec_map::VecMap;
use std::sync::Arc;

/// The configured fields of one secret. `Debug` shows field names only.
///
/// Cheap to clone (the fields are shared): every request of the injector
/// takes the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretValue {
    fields: Arc<VecMap<String, Secret>>,
    /// What `secret` names when a backend picks a primary field
    /// ([`Self::with_primary`]); the field names stay as they are.
    primary: Option<Secret>,
}

impl SecretValue {
    pub fn new(fields: VecMap<String, Secret>) -> Self {
        Self {
            fields: Arc::new(fields),
            primary: None,
        }
    }

    /// One field's value; `secret` is the primary field once one is chosen.
    pub fn field(&self, name: &str) -> Option<&Secret> {
        match &self.primary {
            Some(primary) if name == "secret" => Some(primary),
            _ => self.fields.get(name),
        }
    }

    /// The same value with `secret` naming field `name`; None when the
    /// secret has no such field. Shares the fields (no copy per request).
    pub fn with_primary(&self, name: &str) -> Option<Self> {
        let primary = self.fields.get(name)?.clone();
        Some(Self {
            fields: Arc::clone(&self.fields),
            primary: Some(primary),
        })
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
        let mut fields = VecMap::new();
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
        Ok(Self::new(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn value() -> SecretValue {
        SecretValue::new(VecMap::from_iter([
            ("username".to_string(), Secret::new("app")),
            ("password".to_string(), Secret::new("hunter2")),
        ]))
    }

    #[test]
    fn a_primary_field_is_reachable_as_secret_without_renaming_the_others() {
        let v = value().with_primary("password").unwrap();
        assert_eq!(v.field("secret").map(Secret::expose), Some("hunter2"));
        assert_eq!(v.field("username").map(Secret::expose), Some("app"));
        let names: Vec<&str> = v.fields().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["password", "username"],
            "no `secret` entry is added"
        );
        assert!(value().with_primary("token").is_none());
        assert!(value().field("secret").is_none(), "no primary chosen");
    }

    #[test]
    fn clones_share_the_fields() {
        let v = value();
        let w = v.with_primary("username").unwrap();
        assert!(Arc::ptr_eq(&v.fields, &w.fields));
        assert!(Arc::ptr_eq(&v.clone().fields, &v.fields));
    }
}
