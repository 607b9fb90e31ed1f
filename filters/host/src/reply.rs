//! Local replies: the one place a denial becomes an HTTP answer.

use proxy_wasm::hostcalls;

/// A denial or error answered by the plugin itself, never by the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    /// A short snake_case reason code, also used in metrics.
    pub reason: &'static str,
    /// A human sentence. Must never contain a token, cookie or credential.
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl LocalReply {
    pub fn new(status: u32, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `{"error":"<reason>","message":"<message>"}`
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({"error": self.reason, "message": self.message})
            .to_string()
            .into_bytes()
    }

    /// Sends the reply; the caller then returns `Action::Pause`.
    pub fn send(&self) {
        let body = self.body();
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ];
        headers.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        if let Err(status) = hostcalls::send_http_response(self.status, headers, Some(&body)) {
            log::error!(
                "could not send the local reply ({}): {status:?}",
                self.reason
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_short_json_with_reason_and_escaped_message() {
        let r = LocalReply::new(401, "token_expired", "the \"token\" has expired");
        let v: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(v["error"], "token_expired");
        assert_eq!(v["message"], "the \"token\" has expired");
    }
}
