//! A JSON Schema checker for the subset the reply schemas use: `type` (one or a list), `enum`,
//! `properties`/`required`/`additionalProperties: false`, `items`/`minItems`/`maxItems`,
//! `minimum`/`maximum`, `maxLength`, `anyOf` (and `pattern`, unchecked). Servers that ignore `response_format` are
//! checked against the same schema they were sent; a keyword outside the subset is an error here
//! rather than silently passing.

use serde_json::Value;

/// Where a value first departs from its schema (a JSON path, `$.rules[2]`) and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Mismatch {
    pub path: String,
    pub problem: String,
}

/// Return early with a `Mismatch` at `$path`, its problem formatted.
macro_rules! mismatch {
    ($path:expr, $($arg:tt)*) => { return Err(Mismatch { path: $path.to_string(), problem: format!($($arg)*) }) };
}

/// `Ok` if `v` matches `schema`; otherwise the first mismatch, with its JSON path.
pub fn check(schema: &Value, v: &Value) -> Result<(), Mismatch> {
    at(schema, v, "$")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_fits(want: &str, v: &Value) -> bool {
    let got = type_name(v);
    // An integer is a number; a float with no fraction (e.g. 2.0) is an integer.
    want == got || (want == "number" && got == "integer") || (want == "integer" && v.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15))
}

const KNOWN: &[&str] = &[
    "type",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "maxLength",
    // Sent to steer generation, not checked here: what a pattern constrains (a rule line) is
    // parsed by its reader, which is stricter than any regular expression.
    "pattern",
    "anyOf",
    "description",
    "title",
];

fn at(schema: &Value, v: &Value, path: &str) -> Result<(), Mismatch> {
    let Some(s) = schema.as_object() else { mismatch!(path, "the schema is not an object") };
    if let Some(k) = s.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        mismatch!(path, "schema keyword {k:?} is not supported");
    }
    if let Some(variants) = s.get("anyOf").and_then(Value::as_array) {
        let mut why = Vec::new();
        for (i, variant) in variants.iter().enumerate() {
            match at(variant, v, path) {
                Ok(()) => return Ok(()),
                Err(e) => why.push(format!("variant {}: {e}", i + 1)),
            }
        }
        mismatch!(path, "matches none of {} variants ({})", variants.len(), why.join("; "));
    }
    if let Some(t) = s.get("type") {
        let fits = match t {
            Value::String(t) => type_fits(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_fits(t, v)),
            _ => false,
        };
        if !fits {
            mismatch!(path, "expected {t}, got {}", type_name(v));
        }
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
        let same = |a: &Value| a == v || (a.is_number() && v.is_number() && a.as_f64() == v.as_f64());
        if !allowed.iter().any(same) {
            mismatch!(path, "{} is not one of {}", short(v), short(&Value::Array(allowed.clone())));
        }
    }
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if x.is_nan() || x < min {
                    mismatch!(path, "{n} is below the minimum {min}");
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if x.is_nan() || x > max {
                    mismatch!(path, "{n} is above the maximum {max}");
                }
            }
        }
        Value::String(text) => {
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                let n = text.chars().count() as u64;
                if n > max {
                    mismatch!(path, "{n} characters, at most {max} allowed");
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    mismatch!(path, "{} item(s), at least {min} needed", items.len());
                }
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    mismatch!(path, "{} item(s), at most {max} allowed", items.len());
                }
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    at(item, x, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Object(o) => {
            let props = s.get("properties").and_then(Value::as_object);
            for name in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !o.contains_key(name) {
                    mismatch!(path, "missing {name:?}");
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => at(sub, x, &format!("{path}.{k}"))?,
                    None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        mismatch!(path, "unexpected key {:?}", crate::util::text::sanitize(k, 40));
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn short(v: &Value) -> String {
    crate::util::text::sanitize(&v.to_string(), 80)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subset_checks_what_it_says() {
        let s = json!({"type": "object", "additionalProperties": false, "required": ["a", "b"], "properties": {
            "a": {"type": "integer", "minimum": 1, "maximum": 3},
            "b": {"type": "array", "maxItems": 2, "items": {"type": "string", "enum": ["x", "y"], "maxLength": 1}},
            "c": {"anyOf": [{"type": "null"}, {"type": "number"}]}}});
        assert!(check(&s, &json!({"a": 2, "b": ["x"]})).is_ok());
        assert!(check(&s, &json!({"a": 2.0, "b": [], "c": 0.5})).is_ok());
        assert!(check(&s, &json!({"a": 4, "b": []})).unwrap_err().to_string().contains("maximum"));
        assert!(check(&s, &json!({"a": 1})).unwrap_err().to_string().contains("missing \"b\""));
        assert!(check(&s, &json!({"a": 1, "b": [], "z": 1})).unwrap_err().to_string().contains("unexpected key"));
        assert!(check(&s, &json!({"a": 1, "b": ["x", "y", "x"]})).unwrap_err().to_string().contains("at most 2"));
        assert!(check(&s, &json!({"a": 1, "b": ["q"]})).unwrap_err().to_string().contains("not one of"));
        assert!(check(&s, &json!({"a": 1.5, "b": []})).unwrap_err().to_string().contains("expected"));
        assert!(check(&s, &json!({"a": 1, "b": [], "c": "no"})).unwrap_err().to_string().contains("none of 2"));
        assert!(check(&json!({"format": "x"}), &json!("x")).unwrap_err().to_string().contains("not supported"));
    }
}
