//! tests/events.schema.json, read and enforced: every `--json` line must
//! be an object whose event is listed, with every required field, no
//! field the schema does not name, and each value of its field's type.

use std::collections::BTreeMap;

use serde_json::Value;

/// The schema file's path.
pub const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events.schema.json");

/// One event's fields: name → (type, required).
pub type Fields = BTreeMap<String, (Value, bool)>;

pub struct Schema {
    pub common: Fields,
    pub outcomes: Vec<String>,
    pub events: BTreeMap<String, Fields>,
}

impl Schema {
    pub fn load() -> Schema {
        let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("{PATH}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{PATH}: {e}"));
        let fields = |obj: &Value, required: bool| -> Fields {
            obj.as_object()
                .unwrap_or_else(|| panic!("{PATH}: {obj} is not an object"))
                .iter()
                .map(|(k, t)| (k.clone(), (t.clone(), required)))
                .collect()
        };
        let common = fields(&v["common"], true);
        let outcomes = v["outcomes"]
            .as_array()
            .expect("an outcomes list")
            .iter()
            .map(|o| o.as_str().expect("outcome names").to_owned())
            .collect();
        let events = v["events"]
            .as_object()
            .expect("an events object")
            .iter()
            .map(|(name, e)| {
                let mut f = fields(&e["required"], true);
                f.extend(fields(&e["optional"], false));
                (name.clone(), f)
            })
            .collect();
        Schema {
            common,
            outcomes,
            events,
        }
    }

    /// Checks one line; the error says what is wrong with it.
    pub fn check_line(&self, line: &str) -> Result<String, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
        self.check(&v).map_err(|e| format!("{e}: {line}"))
    }

    /// Checks one event; returns its name.
    pub fn check(&self, v: &Value) -> Result<String, String> {
        let obj = v.as_object().ok_or("not an object")?;
        let name = obj
            .get("event")
            .and_then(Value::as_str)
            .ok_or("no \"event\" string")?;
        let fields = self
            .events
            .get(name)
            .ok_or_else(|| format!("event {name:?} is not in the schema"))?;
        for (key, (ty, required)) in self.common.iter().chain(fields) {
            match obj.get(key) {
                None if *required => return Err(format!("{name}: required field {key:?} missing")),
                None => {}
                Some(value) => self
                    .check_type(ty, value)
                    .map_err(|e| format!("{name}.{key}: {e}"))?,
            }
        }
        if let Some(extra) = obj
            .keys()
            .find(|k| !self.common.contains_key(*k) && !fields.contains_key(*k))
        {
            return Err(format!("{name}: field {extra:?} is not in the schema"));
        }
        Ok(name.to_owned())
    }

    fn check_type(&self, ty: &Value, v: &Value) -> Result<(), String> {
        if let Some(choices) = ty.as_array() {
            return if choices.contains(v) {
                Ok(())
            } else {
                Err(format!("{v} is not one of {ty}"))
            };
        }
        let ty = ty.as_str().ok_or("a type is a string or a list")?;
        if let Some(base) = ty.strip_suffix("|null") {
            if v.is_null() {
                return Ok(());
            }
            return self.check_type(&Value::from(base), v);
        }
        let s = v.as_str();
        let ok = match ty {
            "string" => v.is_string(),
            "integer" => v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "addr" => s.is_some_and(|s| s.parse::<std::net::SocketAddr>().is_ok()),
            "ip" => s.is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
            "mac" => s.is_some_and(|s| {
                s.len() == 17
                    && s.split(':').count() == 6
                    && s.split(':').all(|b| {
                        b.len() == 2
                            && b.chars()
                                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                    })
            }),
            "flags" => s.is_some_and(|s| s == "none" || is_flags(s)),
            "state" => s.is_some_and(|s| STATES.contains(&s)),
            "outcome" => s.is_some_and(|s| self.outcomes.iter().any(|o| o == s)),
            other => return Err(format!("unknown type {other:?} in the schema")),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{v} is not of type {ty}"))
        }
    }
}

/// RFC 9293's state names.
const STATES: [&str; 11] = [
    "CLOSED",
    "LISTEN",
    "SYN-SENT",
    "SYN-RECEIVED",
    "ESTABLISHED",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "CLOSE-WAIT",
    "CLOSING",
    "LAST-ACK",
    "TIME-WAIT",
];

/// tcpdump's flag letters, each at most once, in its order `FSRP.UEW`.
fn is_flags(s: &str) -> bool {
    let order = "FSRP.UEW";
    let mut last = None;
    !s.is_empty()
        && s.chars().all(|c| match order.find(c) {
            Some(i) if last.is_none_or(|l| i > l) => {
                last = Some(i);
                true
            }
            _ => false,
        })
}
