//! Free loopback ports: ask the kernel (bind port 0), never guess.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

use crate::{Error, Result};

/// Ports handed out by this test process, so two components never get the same one.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn claim(port: u16) -> bool {
    let mut guard = match GIVEN.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard.get_or_insert_with(HashSet::new).insert(port)
}

fn bind_any() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A free port on 127.0.0.1 (not handed out before by this process).
pub fn free_port() -> Result<u16> {
    for _ in 0..100 {
        let p = bind_any()?;
        if claim(p) {
            return Ok(p);
        }
    }
    Err(Error::msg("no free loopback port found"))
}

/// A free port P whose neighbour P+1 is free too (OpenBao dev mode binds its cluster port at P+1).
pub fn free_port_pair() -> Result<u16> {
    for _ in 0..200 {
        let p = bind_any()?;
        let Some(next) = p.checked_add(1) else {
            continue;
        };
        if is_free(next) && claim(p) && claim(next) {
            return Ok(p);
        }
    }
    Err(Error::msg("no free pair of loopback ports found"))
}
