#!/usr/bin/env python3
"""openapi_check.py SCHEMA < JSON — validate a truced answer against a schema of
docs/truced-openapi.yaml (components/schemas/SCHEMA, or a path "GET /events" for its 200 body).
Prints nothing and exits 0 when it conforms; else the first error and exit status 1."""
import json
import sys

import jsonschema
import yaml

spec = yaml.safe_load(open(sys.argv[2] if len(sys.argv) > 2 else "docs/truced-openapi.yaml"))


def resolve(node):
    """Inline $ref and turn OpenAPI 3.0's nullable into JSON Schema's null type."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target)
        out = {k: resolve(v) for k, v in node.items() if k not in ("nullable", "example")}
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


name = sys.argv[1]
if " " in name:
    method, path = name.split(" ", 1)
    schema = spec["paths"][path][method.lower()]["responses"]["200"]["content"][
        "application/json"]["schema"]
else:
    schema = spec["components"]["schemas"][name]
try:
    jsonschema.validate(json.load(sys.stdin), resolve(schema))
except jsonschema.ValidationError as e:
    print(f"{name}: {e.message} at {list(e.absolute_path)}")
    sys.exit(1)
