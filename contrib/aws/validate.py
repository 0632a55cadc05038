#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks an SSM Automation document (YAML) against the structure AWS
documents for schema version 0.3 ("Automation runbook schema", "Automation
actions reference" and "Running conditional branches" in the AWS Systems
Manager user guide), written down here as a small schema; and checks that
every step, branch and {{ reference }} points at something that exists.

This is our reading of the documentation, not AWS's validator: the real
one runs at `aws ssm create-document`. Exit 0 when valid; otherwise every
problem is printed and the exit code is 1.

    python3 contrib/aws/validate.py contrib/aws/ntrescue-rdp.yaml
"""
import re
import sys

import yaml

TOP_REQUIRED = {"schemaVersion", "mainSteps"}
TOP_ALLOWED = TOP_REQUIRED | {"description", "assumeRole", "parameters", "outputs", "files"}
PARAM_TYPES = {"String", "StringList", "Boolean", "Integer", "MapList", "StringMap"}
PARAM_KEYS = {"type", "description", "default", "allowedValues", "allowedPattern",
              "displayType", "minItems", "maxItems", "minChars", "maxChars"}
STEP_REQUIRED = {"name", "action"}
STEP_ALLOWED = STEP_REQUIRED | {"inputs", "description", "maxAttempts", "timeoutSeconds",
                                "onFailure", "onCancel", "isEnd", "isCritical", "nextStep",
                                "outputs"}
STEP_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
# action -> the inputs it requires (per the actions reference).
ACTIONS = {
    "aws:approve": {"Approvers"},
    "aws:assertAwsResourceProperty": {"Service", "Api", "PropertySelector", "DesiredValues"},
    "aws:branch": {"Choices"},
    "aws:changeInstanceState": {"InstanceIds", "DesiredState"},
    "aws:copyImage": {"SourceImageId", "SourceRegion", "ImageName"},
    "aws:createImage": {"InstanceId", "ImageName"},
    "aws:createStack": {"StackName"},
    "aws:createTags": {"ResourceIds", "Tags"},
    "aws:deleteImage": {"ImageId"},
    "aws:executeAutomation": {"DocumentName"},
    "aws:executeAwsApi": {"Service", "Api"},
    "aws:executeScript": {"Runtime", "Handler"},
    "aws:invokeLambdaFunction": {"FunctionName"},
    "aws:pause": set(),
    "aws:runCommand": {"DocumentName"},
    "aws:runInstances": {"ImageId"},
    "aws:sleep": set(),
    "aws:waitForAwsResourceProperty": {"Service", "Api", "PropertySelector", "DesiredValues"},
}
DESIRED_STATES = {"running", "stopped", "terminated"}
OUTPUT_TYPES = {"String", "Integer", "Boolean", "StringList", "StringMap", "MapList"}
BRANCH_OPERATORS = {"StringEquals", "EqualsIgnoreCase", "StartsWith", "EndsWith", "Contains",
                    "NumericEquals", "NumericGreater", "NumericLesser",
                    "NumericGreaterOrEquals", "NumericLesserOrEquals", "BooleanEquals"}
# Built-in variables (the "automation:" and "global:" namespaces).
BUILTINS = {"automation:EXECUTION_ID", "automation:DOCUMENT_EXECUTION_ID",
            "global:ACCOUNT_ID", "global:REGION", "global:DATE", "global:DATE_TIME",
            "global:AWS_PARTITION", "global:DATE_TIME_MILLIS"}
# Outputs every action of these kinds has without declaring them.
IMPLICIT_OUTPUTS = {
    "aws:runCommand": {"CommandId", "Status", "ResponseCode", "Output"},
    "aws:createImage": {"ImageId", "ImageState"},
    "aws:executeScript": {"OutputPayload"},
}
REF = re.compile(r"\{\{\s*([^}\s]+)\s*\}\}")


def check(doc) -> list:
    errs = []
    if not isinstance(doc, dict):
        return ["the document is not a mapping"]
    missing = TOP_REQUIRED - doc.keys()
    errs += [f"missing top-level field {k}" for k in sorted(missing)]
    errs += [f"unknown top-level field {k}" for k in sorted(doc.keys() - TOP_ALLOWED)]
    if doc.get("schemaVersion") != "0.3":
        errs.append(f"schemaVersion must be the string '0.3', not {doc.get('schemaVersion')!r}")
    params = doc.get("parameters") or {}
    for name, p in params.items():
        if not isinstance(p, dict) or p.get("type") not in PARAM_TYPES:
            errs.append(f"parameter {name}: type must be one of {sorted(PARAM_TYPES)}")
            continue
        errs += [f"parameter {name}: unknown field {k}" for k in sorted(p.keys() - PARAM_KEYS)]
        pat, default = p.get("allowedPattern"), p.get("default")
        if pat is not None and isinstance(default, str) and not re.search(pat, default):
            errs.append(f"parameter {name}: default {default!r} does not match {pat}")
    steps = doc.get("mainSteps") or []
    if not isinstance(steps, list) or not steps:
        return errs + ["mainSteps must be a non-empty list"]
    names = [s.get("name") for s in steps if isinstance(s, dict)]
    dupes = {n for n in names if names.count(n) > 1}
    errs += [f"step name {n} is used twice" for n in sorted(map(str, dupes))]
    known = set(names)
    outputs = {}
    for s in steps:
        declared = {o.get("Name") for o in s.get("outputs") or []}
        outputs[s.get("name")] = declared | IMPLICIT_OUTPUTS.get(s.get("action"), set())
    for i, s in enumerate(steps):
        errs += check_step(i, s, known)
    errs += check_refs(doc, params, outputs)
    for o in doc.get("outputs") or []:
        step, _, out = str(o).partition(".")
        if out not in outputs.get(step, set()):
            errs.append(f"document output {o} names no step output")
    return errs


def check_step(i, s, known) -> list:
    if not isinstance(s, dict):
        return [f"step {i} is not a mapping"]
    name = s.get("name", f"#{i}")
    errs = [f"step {name}: missing {k}" for k in sorted(STEP_REQUIRED - s.keys())]
    errs += [f"step {name}: unknown field {k}" for k in sorted(s.keys() - STEP_ALLOWED)]
    if not STEP_NAME.match(str(name)):
        errs.append(f"step {name}: the name must be letters, digits and _")
    action = s.get("action")
    inputs = s.get("inputs") or {}
    if action not in ACTIONS:
        errs.append(f"step {name}: unknown action {action}")
    else:
        errs += [f"step {name}: {action} needs input {k}"
                 for k in sorted(ACTIONS[action] - inputs.keys())]
    for field in ("onFailure", "onCancel"):
        v = s.get(field)
        if v is None or v in ("Abort", "Continue"):
            continue
        target = str(v).removeprefix("step:")
        if not str(v).startswith("step:") or target not in known:
            errs.append(f"step {name}: {field} {v} is not Abort, Continue or step:<an existing step>")
    if "nextStep" in s and s["nextStep"] not in known:
        errs.append(f"step {name}: nextStep {s['nextStep']} does not exist")
    if action == "aws:changeInstanceState" and inputs.get("DesiredState") not in DESIRED_STATES:
        errs.append(f"step {name}: DesiredState must be one of {sorted(DESIRED_STATES)}")
    if action == "aws:branch":
        errs += check_branch(name, inputs, known)
    for o in s.get("outputs") or []:
        if not {"Name", "Selector", "Type"} <= o.keys() or o.get("Type") not in OUTPUT_TYPES:
            errs.append(f"step {name}: output {o} needs Name, Selector and a Type of {sorted(OUTPUT_TYPES)}")
    return errs


def check_choice(name, c, top) -> list:
    if "And" in c or "Or" in c:
        subs = c.get("And") or c.get("Or")
        return [e for sub in subs for e in check_choice(name, sub, False)]
    if "Not" in c:
        return check_choice(name, c["Not"], False)
    ops = BRANCH_OPERATORS & c.keys()
    errs = []
    if "Variable" not in c or len(ops) != 1:
        errs.append(f"step {name}: a choice needs a Variable and exactly one operator")
    return errs


def check_branch(name, inputs, known) -> list:
    errs = []
    for c in inputs.get("Choices") or []:
        if c.get("NextStep") not in known:
            errs.append(f"step {name}: choice NextStep {c.get('NextStep')} does not exist")
        errs += check_choice(name, c, True)
    if "Default" in inputs and inputs["Default"] not in known:
        errs.append(f"step {name}: Default {inputs['Default']} does not exist")
    return errs


def check_refs(doc, params, outputs) -> list:
    errs = []

    def walk(v, where):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, where)
        elif isinstance(v, list):
            for x in v:
                walk(x, where)
        elif isinstance(v, str):
            for ref in REF.findall(v):
                if ref in params or ref in BUILTINS:
                    continue
                step, _, out = ref.partition(".")
                if out and out in outputs.get(step, set()):
                    continue
                errs.append(f"{where}: {{{{ {ref} }}}} names no parameter, step output or built-in")

    walk(doc.get("assumeRole"), "assumeRole")
    for s in doc.get("mainSteps") or []:
        if isinstance(s, dict):
            walk(s.get("inputs"), f"step {s.get('name')}")
    return errs


def main(argv) -> int:
    errs = []
    for path in argv[1:]:
        with open(path) as f:
            errs += [f"{path}: {e}" for e in check(yaml.safe_load(f))]
    for e in errs:
        print(e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
