#!/usr/bin/env python3
"""Keeps every unit test in `policies` runnable on wasm32-unknown-unknown.

Under wasm-bindgen-test-runner only `#[wasm_bindgen_test]` functions run, so
each test module imports it as `test` (an explicit import shadows the built-in
attribute). `--check` fails when a module with `#[test]` lacks the import;
`--fix` adds it.
"""
import pathlib, re, sys

SHIM = ('#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]\n'
        'use wasm_bindgen_test::wasm_bindgen_test as test;\n')

def fix_text(text: str, whole_file_is_tests: bool) -> str:
    if "wasm_bindgen_test as test" in text:
        return text
    if whole_file_is_tests:
        lines = text.splitlines(keepends=True)
        i = 0
        while i < len(lines) and (lines[i].startswith("//!") or lines[i].strip() == ""):
            i += 1
        return "".join(lines[:i]) + SHIM + "".join(lines[i:])
    indented = "".join("    " + l + "\n" for l in SHIM.splitlines())
    return re.sub(r"(#\[cfg\(test\)\]\s*\n(?:#\[[^\n]*\]\s*\n)*mod tests \{\n)", lambda m: m.group(1) + indented, text, count=1)

def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    root = pathlib.Path(__file__).resolve().parent.parent / "policies" / "src"
    bad = []
    for f in sorted(root.rglob("*.rs")):
        text = f.read_text()
        if "#[test]" not in text or "wasm_bindgen_test as test" in text:
            continue
        whole = f.name == "tests.rs" or f.parent.name == "tests" or "mod tests {" not in text
        fixed = fix_text(text, whole)
        if fixed == text:
            bad.append(f"{f}: cannot place the wasm test import automatically")
        elif mode == "--fix":
            f.write_text(fixed)
            print(f"added the wasm test import to {f}")
        else:
            bad.append(f"{f}: missing `use wasm_bindgen_test::wasm_bindgen_test as test;` (run scripts/wasm_test_shim.py --fix)")
    for b in bad:
        print(b, file=sys.stderr)
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
