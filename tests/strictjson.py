"""Parse fastcheck's JSON output as strictly as jq or JSON.parse do."""
import json


def _refuse(literal):
    raise ValueError(f"not strict JSON: {literal} literal")


def loads(text: str):
    """``json.loads`` that rejects the NaN / Infinity / -Infinity literals Python accepts by default."""
    return json.loads(text, parse_constant=_refuse)
