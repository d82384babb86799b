#!/usr/bin/python3
"""Writes a rule file from jsonnet's JSON output: {"header": "...", "document": {...}}.

The document is written as YAML in exactly the layout of jsonnet's
std.manifestYamlDoc(doc, indent_array_in_object=true, quote_keys=false):
keys sorted, bare where YAML allows, strings double-quoted JSON-style, or as
`|` blocks when they end with a newline. jsonnet's own manifest took ten
seconds of CPU per rule file, five times its evaluation; this takes a tenth
of a second. What it writes is first read back through a YAML parser and
compared with the document.

Usage: jsonnet ... FILE.jsonnet | manifest_yaml.py > OUT.yml
"""
import json
import re
import sys

import yaml

# Keys YAML would read as something else (jsonnet's list), quoted like any
# key with characters outside [A-Za-z0-9_./-].
RESERVED_KEYS = {"true", "false", "yes", "no", "on", "off", "y", "n",
                 ".nan", "-.inf", "+.inf", ".inf", "null", "-", "---", ""}
BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")


def quote(s):
    """std.escapeStringJson: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif cp < 32 or 127 <= cp <= 159:
            out.append("\\u%04x" % cp)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def key(k):
    return k if BARE_KEY.match(k) and k.lower() not in RESERVED_KEYS else quote(k)


def scalar(v, indent):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else "%.17g" % v
    if v.endswith("\n"):
        return ("\n" + indent + "  ").join(["|"] + v.split("\n")[:-1])
    return quote(v) if v else '""'


def nonempty(v, kind):
    return isinstance(v, kind) and len(v) > 0


def emit(v, indent=""):
    if nonempty(v, list):
        parts = []
        for item in v:
            if nonempty(item, list):
                sub = indent + "  "
                parts.append("-\n" + sub + emit(item, sub))
            elif nonempty(item, dict):
                parts.append("- " + emit(item, indent + "  "))
            else:
                parts.append("- " + emit(item, indent))
        return ("\n" + indent).join(parts)
    if nonempty(v, dict):
        lines = []
        for k in sorted(v):
            item = v[k]
            if nonempty(item, (list, dict)):
                sub = indent + "  "
                lines.append(key(k) + ":\n" + sub + emit(item, sub))
            else:
                lines.append(key(k) + ": " + emit(item, indent))
        return ("\n" + indent).join(lines)
    if isinstance(v, list):
        return "[]"
    if isinstance(v, dict):
        return "{}"
    return scalar(v, indent)


def main():
    doc = json.load(sys.stdin)
    text = doc["header"] + emit(doc["document"]) + "\n"
    # Read back through a YAML parser: what is written is what jsonnet meant.
    try:
        same = yaml.safe_load(text) == doc["document"]
    except yaml.YAMLError as e:
        sys.exit("manifest_yaml.py: the YAML written does not parse: %s" % e)
    if not same:
        sys.exit("manifest_yaml.py: the YAML written does not read back as the document")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
