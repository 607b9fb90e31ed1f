#!/usr/bin/env python3
"""size_report.py OUT.md MODULE.wasm:SYMBOLS.map [...]

Where the bytes of each optimized module go (`make size`): code bytes per crate and the largest
functions, measured on the module as shipped (after keep_callbacks and wasm-opt), with function
names from wasm-opt's --symbolmap of a build that kept its name section. Measuring after wasm-opt
matters: before it, twiggy counts code that wasm-opt then removes or merges (10-15 %).
"""
import collections
import os
import re
import sys

SECTION_CODE, SECTION_DATA, SECTION_IMPORT = 10, 11, 2
OUR_CRATES = {"policies", "mesh_host", "oidc_auth", "sticky_session", "credential_injector"}
PRIMITIVES = {"str", "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
              "i128", "isize", "f32", "f64"}
LEGACY_ESCAPES = {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$C$": ",", "$RF$": "&", "$BP$": "*",
                  "$u27$": "'", "$u7b$": "{", "$u7d$": "}", "$u5b$": "[", "$u5d$": "]",
                  "$u3b$": ";", "$u2b$": "+", "$u22$": '"', "$SP$": "@", "..": "::"}


def leb128(buf, at):
    value = shift = 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def skip_limits(buf, at):
    flags = buf[at]
    _, at = leb128(buf, at + 1)
    return leb128(buf, at)[1] if flags & 1 else at


def read_module(path):
    """(imported function count, [code body size per defined function], data section bytes)."""
    buf = open(path, "rb").read()
    at, imported, bodies, data = 8, 0, [], 0
    while at < len(buf):
        section = buf[at]
        size, at = leb128(buf, at + 1)
        end = at + size
        if section == SECTION_IMPORT:
            count, p = leb128(buf, at)
            for _ in range(count):
                for _name in range(2):
                    n, p = leb128(buf, p)
                    p += n
                kind = buf[p]
                p += 1
                if kind == 0:  # function: type index
                    _, p = leb128(buf, p)
                    imported += 1
                elif kind == 1:  # table: element type + limits
                    p = skip_limits(buf, p + 1)
                elif kind == 2:  # memory: limits
                    p = skip_limits(buf, p)
                else:  # global: value type + mutability
                    p += 2
        elif section == SECTION_CODE:
            count, p = leb128(buf, at)
            for _ in range(count):
                n, q = leb128(buf, p)
                bodies.append(n + q - p)
                p = q + n
        elif section == SECTION_DATA:
            data = size
        at = end
    return imported, bodies, data


def demangle(symbol):
    """Readable enough to group by crate: legacy `_ZN…E` fully, v0 `_R…` down to its crate."""
    symbol = symbol.removeprefix("byn$mgfn-shared$")  # functions wasm-opt merged
    if symbol.startswith("_ZN"):
        rest, parts = symbol[3:], []
        while rest[:1].isdigit():
            digits = re.match(r"\d+", rest).group()
            n = int(digits)
            rest = rest[len(digits):]
            parts.append(rest[:n])
            rest = rest[n:]
        name = "::".join(p[1:] if p.startswith("_$") else p for p in parts[:-1] if p)
        for escape, text in LEGACY_ESCAPES.items():
            name = name.replace(escape, text)
        return name
    v0 = re.search(r"C[sh]?[0-9A-Za-z]*_(\d+)_?([A-Za-z_][A-Za-z0-9_]*)", symbol)
    if symbol.startswith("_R") and v0:
        return v0.group(2)[: int(v0.group(1))] + "::…"
    return symbol


def crate_of(name):
    """The crate whose code this is: for `<T as Trait>::f`, the trait's crate when it is one of ours
    (our readers for `Vec<T>`, our impls on std types), else the type's."""
    impl = re.match(r"<&?(?:mut )?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)[^ ]* as ([A-Za-z_][A-Za-z0-9_]*)", name)
    if impl:
        implementor, trait = impl.groups()
        not_a_crate = len(implementor) == 1 or implementor in PRIMITIVES
        return trait if trait in OUR_CRATES or not_a_crate else implementor
    head = re.match(r"<*&?(?:mut )?([A-Za-z_][A-Za-z0-9_]*)::", name)
    if head:
        return head.group(1)
    if name.startswith("proxy_on_"):
        return "proxy_wasm"
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name):  # C symbols: wasi-libc (malloc, getenv, writev, …)
        return "(wasi libc)"
    return "(other)"


def report(module, symbol_map):
    imported, bodies, data = read_module(module)
    names = {}
    for line in open(symbol_map):
        index, _, symbol = line.rstrip("\n").partition(":")
        names[int(index)] = demangle(symbol)
    by_crate, count = collections.Counter(), collections.Counter()
    functions = []
    for i, size in enumerate(bodies):
        name = names.get(i + imported, f"function {i + imported}")
        by_crate[crate_of(name)] += size
        count[crate_of(name)] += 1
        functions.append((size, re.sub(r"::h[0-9a-f]{16}$", "", name)))
    code = sum(bodies)
    shipped = re.sub(r"\.opt\.wasm$", ".wasm", module.rsplit("/", 1)[-1])
    lines = [f"### `{shipped}`: {os.path.getsize(module):,} B", "",
             f"Code {code:,} B in {len(bodies)} functions, data {data:,} B (strings, tables); the rest of the "
             "module is its type, import, export and table sections.", "",
             "| crate | code bytes | functions | share of code |", "|---|---:|---:|---:|"]
    for crate, size in by_crate.most_common(14):
        lines.append(f"| {crate} | {size:,} | {count[crate]} | {100 * size / code:.1f} % |")
    rest = code - sum(s for _, s in by_crate.most_common(14))
    if rest:
        lines.append(f"| (the rest) | {rest:,} | | {100 * rest / code:.1f} % |")
    lines += ["", "| largest functions (with what the compiler inlined into them) | bytes |", "|---|---:|"]
    for size, name in sorted(functions, reverse=True)[:12]:
        lines.append(f"| `{name[:110]}` | {size:,} |")
    return "\n".join(lines) + "\n"


def main():
    out, pairs = sys.argv[1], sys.argv[2:]
    sections = [report(*pair.split(":", 1)) for pair in pairs]
    header = ("# Where the bytes go (`make size`)\n\nGenerated by scripts/size_report.py from the modules "
              "as `make build` ships them (same profiles, keep_callbacks, wasm-opt flags), with names from "
              "a build that kept its symbols (its modules come out within 0.1 % of dist/'s). A crate's bytes include "
              "what the compiler inlined from other crates into its functions.\n\n")
    with open(out, "w") as f:
        f.write(header + "\n".join(sections))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
