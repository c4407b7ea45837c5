"""A faithful minimal evaluator of what Argo Rollouts does with a web metric's response.

argo-rollouts ``metricproviders/webmetric/webmetric.go`` (parseResponse): ``json.Unmarshal`` the
body, run the k8s client-go JSONPath (``jsonPath``, default ``{$}``), take the first value, then
``utils/evaluate.EvaluateResult``: ``successCondition`` and ``failureCondition`` are expr-lang
expressions over ``result``; failure wins; neither true → Inconclusive; only a success condition
→ not-success is Failed; only a failure condition → not-failure is Successful.

Supported here (all that Clearance's template and the fixtures use): JSONPath ``{$}``,
``{$.a.b}``, ``{.a.b}``; expr ``result``/``result.a.b`` compared with ``==``/``!=`` to string
(single or double quoted), number or boolean literals, joined by ``&&``/``||``. Like expr, values
of different types are never equal (``false == "true"`` is false). Anything else raises, so a
template using more cannot pass by accident.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|&&|\|\|)|(?P<str>\"[^\"]*\"|'[^']*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<path>result(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<bool>true|false))"
)


def json_path(path: str, data: Any) -> Any:
    m = re.fullmatch(r"\{\$?((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\}", path.strip())
    if not m:
        raise ValueError(f"unsupported JSONPath {path!r}")
    for key in [k for k in m.group(1).split(".") if k]:
        if not isinstance(data, dict) or key not in data:
            raise KeyError(f"Could not find JSONPath in body: {key} is not found")
        data = data[key]
    return data


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unsupported expression at {text[pos:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _value(kind: str, text: str, result: Any) -> Any:
    if kind == "str":
        return text[1:-1]
    if kind == "num":
        return float(text)
    if kind == "bool":
        return text == "true"
    value = result
    for key in text.split(".")[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return type(a) is type(b) and bool(a == b)


def condition(expr: str, result: Any) -> bool:
    """Evaluate ``expr``: comparisons joined by && (binds tighter) and ||."""
    tokens = _tokens(expr)
    disjuncts: list[list[bool]] = [[]]
    i = 0
    while i < len(tokens):
        (k1, t1), (op_kind, op), (k2, t2) = tokens[i : i + 3]
        if op_kind != "op" or op not in ("==", "!="):
            raise ValueError(f"unsupported expression {expr!r}")
        same = _equal(_value(k1, t1, result), _value(k2, t2, result))
        disjuncts[-1].append(same if op == "==" else not same)
        i += 3
        if i < len(tokens):
            joiner = tokens[i][1]
            if joiner == "||":
                disjuncts.append([])
            elif joiner != "&&":
                raise ValueError(f"unsupported expression {expr!r}")
            i += 1
    return any(all(c) for c in disjuncts)


def evaluate(metric: dict[str, Any], body: bytes) -> str:
    """The measurement phase Argo would record for ``body`` under ``metric``."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return "Successful"  # non-JSON bodies are returned as a string, phase Successful
    web = metric["provider"]["web"]
    result = json_path(web.get("jsonPath") or "{$}", data)
    success_expr = metric.get("successCondition", "")
    failure_expr = metric.get("failureCondition", "")
    success = condition(success_expr, result) if success_expr else False
    failure = condition(failure_expr, result) if failure_expr else False
    if not success_expr and not failure_expr:
        return "Successful"
    if success_expr and not failure_expr:
        failure = not success
    elif failure_expr and not success_expr:
        success = not failure
    if failure:
        return "Failed"
    if not success:
        return "Inconclusive"
    return "Successful"
