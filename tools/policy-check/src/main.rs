//! policy-check validate|explain|render-wasmplugin <plugin> <config.json> [options]

use policy_check::env::{EnvStatus, OfflineEnv};
use policy_check::explain::explain;
use policy_check::render::{wasm_sha256, wasmplugin, WasmPluginSpec};
use policy_check::{check, Plugin};
use std::collections::BTreeMap;
use std::process::ExitCode;

const USAGE: &str = "\
usage: policy-check <command> <plugin> <config.json|-> [options]

commands:
  validate            load the configuration with the plugin's own code; prints `ok` or `path: message (hint: ...)`
  explain             validate, then describe what the plugin will enforce
  render-wasmplugin   validate, then print an Istio WasmPlugin (vmConfig.env = the variables the config reads)

plugins: oidc-auth | sticky-session | credential-injector

options:
  --env NAME=VALUE    value of an environment variable the configuration reads (repeatable)
  --require-env       a variable not given (nor in the environment) is an error, as in Envoy
  --no-process-env    ignore this process's environment
  render-wasmplugin:  --url oci://REGISTRY/mesh/<plugin>:TAG  [--sha256 [sha256:]HEX] [--name N] [--namespace NS] [--selector key=value]

exit status: 0 valid, 1 invalid configuration, 2 usage or I/O error";

struct Args {
    command: String,
    plugin: Plugin,
    file: String,
    env: BTreeMap<String, String>,
    require_env: bool,
    process_env: bool,
    opts: BTreeMap<String, String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut env = BTreeMap::new();
    let mut opts = BTreeMap::new();
    let (mut require_env, mut process_env) = (false, true);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--require-env" => require_env = true,
            "--no-process-env" => process_env = false,
            "--env" => {
                let kv = it.next().ok_or("--env needs NAME=VALUE")?;
                let (k, v) = kv.split_once('=').ok_or("--env needs NAME=VALUE")?;
                env.insert(k.to_string(), v.to_string());
            }
            "--url" | "--sha256" | "--name" | "--namespace" | "--selector" => {
                let v = it.next().ok_or(format!("{a} needs a value"))?;
                opts.insert(a.trim_start_matches('-').to_string(), v.clone());
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") && s != "--" => return Err(format!("unknown option {s}")),
            _ => positional.push(a.clone()),
        }
    }
    let [command, plugin, file] = <[String; 3]>::try_from(positional)
        .map_err(|_| "expected <command> <plugin> <config.json>".to_string())?;
    Ok(Args {
        command,
        plugin: plugin.parse()?,
        file,
        env,
        require_env,
        process_env,
        opts,
    })
}

fn read(file: &str) -> Result<Vec<u8>, String> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|e| e.to_string())?;
        return Ok(buf);
    }
    std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("policy-check: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let raw = match read(&args.file) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("policy-check: {why}");
            return ExitCode::from(2);
        }
    };
    let env = OfflineEnv::new(args.env.clone(), args.process_env, args.require_env);
    let compiled = match check(args.plugin, &raw, &env) {
        Ok(c) => c,
        Err(e) => {
            // `path: message (hint: ...)`, the same line the plugin logs in Envoy.
            println!("{e}");
            return ExitCode::from(1);
        }
    };
    let referenced = env.referenced();
    match args.command.as_str() {
        "validate" => {
            for (name, status) in &referenced {
                if *status == EnvStatus::Unknown {
                    println!(
                        "note: environment variable {name} is read by the configuration; \
                         its value was not checked (pass --env {name}=VALUE)"
                    );
                }
            }
            println!("ok");
        }
        "explain" => print!("{}", explain(&compiled, &raw, &referenced)),
        "render-wasmplugin" => {
            let Some(url) = args.opts.get("url") else {
                eprintln!("policy-check: render-wasmplugin needs --url oci://...\n{USAGE}");
                return ExitCode::from(2);
            };
            let Ok(config_json) = serde_json::from_slice::<serde_json::Value>(&raw)
                .map(|v| serde_json::to_string(&v).unwrap_or_default())
            else {
                return ExitCode::from(1);
            };
            let sha256 = match args.opts.get("sha256").map(|d| wasm_sha256(d)) {
                Some(Err(e)) => {
                    eprintln!("policy-check: {e}");
                    return ExitCode::from(2);
                }
                Some(Ok(hex)) => Some(hex),
                None => None,
            };
            let names: Vec<String> = referenced.into_iter().map(|(n, _)| n).collect();
            print!(
                "{}",
                wasmplugin(&WasmPluginSpec {
                    plugin: args.plugin,
                    name: args
                        .opts
                        .get("name")
                        .map_or(args.plugin.name(), String::as_str),
                    namespace: args
                        .opts
                        .get("namespace")
                        .map_or("istio-ingress", String::as_str),
                    url,
                    sha256,
                    selector: args
                        .opts
                        .get("selector")
                        // The label Istio puts on the pods of the Gateway API gateway
                        // `public` (mesh-config/istio/overlays/ingress-gateway); Istio's
                        // generated gateways carry no `istio=ingressgateway`.
                        .map_or(
                            "gateway.networking.k8s.io/gateway-name=public",
                            String::as_str
                        ),
                    env: &names,
                    config_json: &config_json,
                })
            );
        }
        other => {
            eprintln!("policy-check: unknown command `{other}`\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
