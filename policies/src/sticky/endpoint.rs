//! The upstream endpoint a session is pinned to, and its two header encodings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest `upstream.address` we look at; `[ipv6]:port` fits in 47 bytes.
const MAX_ADDRESS_LEN: usize = 64;

/// A routable `ip:port`: non-zero port, not unspecified, multicast or
/// broadcast, no IPv6 scope or flow label. Displays as Envoy writes host
/// addresses: `10.0.0.7:8080`, `[fd00::7]:8080`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint(SocketAddr);

/// How the pin header carries the endpoint, one per Envoy mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinMode {
    /// `envoy.http.stateful_session.header`: standard base64 (padded) of `ip:port`.
    StatefulSession,
    /// `envoy.load_balancing_policies.override_host`: plain `ip:port`.
    OverrideHost,
}

impl Endpoint {
    /// Parses `ip:port` as found in Envoy's `upstream.address`. Anything else
    /// (pipe paths, internal addresses, garbage, oversize input) is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_ADDRESS_LEN {
            return None;
        }
        let addr: SocketAddr = text.parse().ok()?;
        Self::new(addr)
    }

    /// Validates an address; see the type's doc for what is refused.
    pub fn new(addr: SocketAddr) -> Option<Self> {
        if addr.port() == 0 {
            return None;
        }
        let routable = match addr {
            SocketAddr::V4(v4) => {
                let ip = v4.ip();
                !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast())
            }
            SocketAddr::V6(v6) => {
                let ip = v6.ip();
                v6.scope_id() == 0
                    && v6.flowinfo() == 0
                    && !(ip.is_unspecified() || ip.is_multicast())
            }
        };
        routable.then_some(Self(addr))
    }

    pub fn socket_addr(self) -> SocketAddr {
        self.0
    }

    /// The pin header value for `mode`.
    pub fn pin_header_value(self, mode: PinMode) -> String {
        let plain = self.to_string();
        match mode {
            PinMode::StatefulSession => STANDARD.encode(plain.as_bytes()),
            PinMode::OverrideHost => plain,
        }
    }

    /// Compact binary form used inside the cookie: family tag, address, port.
    pub(crate) fn write_to(self, out: &mut Vec<u8>) {
        match self.0.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.0.port().to_be_bytes());
    }

    /// Reads [`Endpoint::write_to`]'s form; returns the rest of the input.
    /// `Err(())` when the bytes do not describe a routable endpoint.
    pub(crate) fn read_from(bytes: &[u8]) -> Result<(Self, &[u8]), ()> {
        let (tag, rest) = bytes.split_first().ok_or(())?;
        let (ip, rest) = match tag {
            4 => {
                let (octets, rest) = take::<4>(rest)?;
                (IpAddr::V4(Ipv4Addr::from(octets)), rest)
            }
            6 => {
                let (octets, rest) = take::<16>(rest)?;
                (IpAddr::V6(Ipv6Addr::from(octets)), rest)
            }
            _ => return Err(()),
        };
        let (port, rest) = take::<2>(rest)?;
        let endpoint = Self::new(SocketAddr::new(ip, u16::from_be_bytes(port))).ok_or(())?;
        Ok((endpoint, rest))
    }
}

/// Splits a fixed-size array off the front of `bytes`.
pub(crate) fn take<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), ()> {
    let (head, rest) = bytes.split_at_checked(N).ok_or(())?;
    let head: [u8; N] = head.try_into().map_err(|_| ())?;
    Ok((head, rest))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scope_id and flowinfo are zero (checked in `new`), so this is
        // exactly `ip:port` / `[ip]:port`, the form Envoy compares against.
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn upstream_addresses_parse_only_when_ip_and_port() {
        let ok = [
            ("127.0.0.1:8081", "127.0.0.1:8081"),
            ("10.1.2.3:80", "10.1.2.3:80"),
            ("[::1]:80", "[::1]:80"),
            ("[fd00:0:0::7]:8443", "[fd00::7]:8443"),
            ("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.1]:80"),
        ];
        for (input, shown) in ok {
            let e = Endpoint::parse(input).unwrap_or_else(|| panic!("{input}"));
            assert_eq!(e.to_string(), shown);
        }
        let bad = [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "0.0.0.0:80",
            "255.255.255.255:80",
            "224.0.0.1:80",
            "[::]:80",
            "[ff02::1]:80",
            "::1:80",
            "[fe80::1%2]:80",
            "localhost:80",
            "/var/run/app.sock",
            "envoy://internal_client_address/",
            "127.0.0.1:80,10.0.0.1:80",
            " 127.0.0.1:80",
            "127.0.0.1:65536",
            "1.2.3.4:80\n",
        ];
        for input in bad {
            assert_eq!(Endpoint::parse(input), None, "{input:?}");
        }
        assert_eq!(Endpoint::parse(&"1".repeat(100_000)), None);
    }

    #[test]
    fn pin_header_encodes_per_mode() {
        let cases = [
            ("127.0.0.1:8081", PinMode::OverrideHost, "127.0.0.1:8081"),
            (
                "127.0.0.1:8081",
                PinMode::StatefulSession,
                "MTI3LjAuMC4xOjgwODE=",
            ),
            ("[::1]:80", PinMode::OverrideHost, "[::1]:80"),
            ("[::1]:80", PinMode::StatefulSession, "Wzo6MV06ODA="),
        ];
        for (addr, mode, want) in cases {
            let e = Endpoint::parse(addr).unwrap();
            assert_eq!(e.pin_header_value(mode), want, "{addr} {mode:?}");
        }
    }

    #[test]
    fn binary_form_round_trips_and_rejects_unroutable() {
        for addr in ["127.0.0.1:8081", "[2001:db8::1]:443"] {
            let e = Endpoint::parse(addr).unwrap();
            let mut buf = Vec::new();
            e.write_to(&mut buf);
            buf.push(0xAA);
            let (back, rest) = Endpoint::read_from(&buf).unwrap();
            assert_eq!(back, e);
            assert_eq!(rest, &[0xAA]);
        }
        for bad in [
            &[][..],
            &[5, 1, 2, 3, 4, 0, 80],
            &[4, 1, 2, 3],
            &[4, 1, 2, 3, 4, 0],
            &[4, 1, 2, 3, 4, 0, 0],
            &[4, 0, 0, 0, 0, 0, 80],
        ] {
            assert!(Endpoint::read_from(bad).is_err(), "{bad:?}");
        }
    }
}
