//! What the numbers were measured on: they mean little without the CPU and the load next to them.

use std::process::Command;

use wasm_tests::{paths, Result};

#[derive(Debug, Clone)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub load_average: String,
    pub envoy_version: String,
    pub mem_total: String,
}

impl Machine {
    pub fn describe() -> Result<Machine> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .map(|m| m.trim().to_string())
            .unwrap_or_default();
        let envoy = Command::new(paths::envoy_bin()?)
            .arg("--version")
            .output()?;
        let envoy_version = String::from_utf8_lossy(&envoy.stdout)
            .split("version:")
            .nth(1)
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            load_average,
            envoy_version,
            mem_total,
        })
    }
}
