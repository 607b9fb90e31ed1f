// Runs a wasm32-wasip1 command module in Node's WASI (V8, the engine Envoy embeds).
// Usage: node bench/vm_micro.mjs <module.wasm> [args...]   (used by `make bench-vm`)
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';

const [path, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [path, ...args], env: {} });
const module = await WebAssembly.compile(await readFile(path));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
