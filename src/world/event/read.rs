//! Reading an event fast: once `step`, `round`, `tick` and `kind` are read, the body's fields go
//! straight into its variant; any other key order still reads, to the same event.

use super::{ByKind, Event, EventBody, KINDS};
use serde::Deserialize;

/// The reader any key order goes through (a flattened, internally tagged body: serde buffers the
/// line twice to find `kind`).
#[derive(Deserialize)]
struct AnyOrder {
    step: u64,
    round: u32,
    tick: u64,
    #[serde(flatten)]
    body: EventBody,
}

/// Reading a session is mostly parsing its events. As written, a line starts with `step`,
/// `round`, `tick` and `kind`; once those are read, the body's fields are read straight into its
/// variant (`ByKind`), with nothing buffered. A line in another key order (edited by hand, or by
/// a tool that sorts keys) is read by `AnyOrder`, to the same event.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        d.deserialize_map(EventVisitor { lean: false })
    }
}

impl Event {
    /// An event read for `World::apply` alone (a far jump's first pass): the string fields apply
    /// never reads (`unread`) are checked to be strings, as always, and left empty. A line reads
    /// (or fails, with the same message) exactly as it does whole.
    pub fn from_line_lean(line: &[u8]) -> Result<Event, serde_json::Error> {
        use serde::Deserializer as _;
        // Checked as UTF-8 once, not string by string (see `parse_event`).
        match std::str::from_utf8(line) {
            Ok(text) => {
                let mut d = serde_json::Deserializer::from_str(text);
                let ev = d.deserialize_map(EventVisitor { lean: true })?;
                d.end()?;
                Ok(ev)
            }
            Err(_) => {
                let mut d = serde_json::Deserializer::from_slice(line);
                let ev = d.deserialize_map(EventVisitor { lean: true })?;
                d.end()?;
                Ok(ev)
            }
        }
    }
}

/// The string fields of each kind that `World::apply` never reads (keep in step with it: the
/// test `a_first_pass_in_chunks_equals_replay` compares the states both reach).
pub(super) fn unread(kind: &str) -> &'static [&'static str] {
    match kind {
        "filter_decision" => &["router", "rule_text", "reason"],
        "reward" => &["router", "item"],
        "credit_assigned" | "rule_edited" | "rules_replaced" | "router_edited" | "router_strategy_edited" => &["reason"],
        "gradient" => &["direction"],
        "profile_updated" => &["reason", "text"],
        "activated" => &["reason"],
        "gate_updated" => &["agent", "item"],
        "buffer_overflow" => &["policy"],
        "reason_exchange" => &["stage", "model", "prompt", "reply", "finish_reason"],
        "reason_failed" => &["stage", "error", "fallback"],
        _ => &[],
    }
}

/// `lean`: the fields `unread` names are left empty (see `Event::from_line_lean`).
struct EventVisitor {
    lean: bool,
}

impl<'de> serde::de::Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        use serde::de::Error;
        use serde_json::{Map, Value};
        let (mut step, mut round, mut tick) = (None, None, None);
        let mut seen = Map::new();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "step" if step.is_none() => step = Some(map.next_value::<u64>()?),
                "round" if round.is_none() => round = Some(map.next_value::<u32>()?),
                "tick" if tick.is_none() => tick = Some(map.next_value::<u64>()?),
                "kind" => {
                    let Text(kind) = map.next_value::<Text<'de>>()?;
                    if let (Some(step), Some(round), Some(tick)) = (step, round, tick) {
                        let skip = if self.lean { unread(&kind) } else { &[] };
                        let body = if skip.is_empty() {
                            ByKind::deserialize(BodyOf { kind, map })?
                        } else {
                            ByKind::deserialize(BodyOf { kind, map: Blanking { map, skip, blank: false } })?
                        };
                        return Ok(Event { step, round, tick, body });
                    }
                    seen.insert("kind".into(), Value::String(kind.into_owned()));
                    break;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    seen.insert(key.into_owned(), value);
                    break;
                }
            }
        }
        // Another order: the rest of the line as a value, read as any order is.
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            seen.insert(k, v);
        }
        for (k, v) in [("step", step), ("tick", tick)] {
            if let Some(v) = v {
                seen.insert(k.into(), v.into());
            }
        }
        if let Some(r) = round {
            seen.insert("round".into(), r.into());
        }
        let kind = seen.get("kind").and_then(Value::as_str).map(str::to_string);
        let e = AnyOrder::deserialize(Value::Object(seen)).map_err(|e| match kind.as_deref() {
            // The same words as the fast path's for a kind no event has (a lean and a whole read,
            // in any key order, refuse a line alike).
            Some(kind) if !KINDS.contains(&kind) => unknown_kind(kind),
            _ => A::Error::custom(e),
        })?;
        Ok(Event { step: e.step, round: e.round, tick: e.tick, body: e.body })
    }
}

/// The error for a kind no event has: serde's own words for an unknown variant, with the kind
/// most likely meant when one is a few edits away (`mesage_sent`: did you mean `message_sent`?).
/// The hint comes before the list of every kind, which is long and cut in a report.
fn unknown_kind<E: serde::de::Error>(kind: &str) -> E {
    match crate::util::text::nearest(kind, KINDS) {
        Some(meant) => {
            let every: Vec<String> = KINDS.iter().map(|k| format!("`{k}`")).collect();
            E::custom(format_args!("unknown variant `{kind}` (did you mean `{meant}`?), expected one of {}", every.join(", ")))
        }
        None => E::unknown_variant(kind, KINDS),
    }
}

/// A key or a kind, borrowed from the line when it has no escapes (most are: no copy).
struct Text<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(s.to_string().into()))
            }
            fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(s.into()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string value checked as a `String` field's would be, and dropped without a copy.
struct Unread;

impl<'de> Deserialize<'de> for Unread {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unread, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Unread;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, _: &str) -> Result<Unread, E> {
                Ok(Unread)
            }
        }
        d.deserialize_str(V)
    }
}

/// A body's map with the fields in `skip` read as `Unread` and handed on empty.
struct Blanking<A> {
    map: A,
    skip: &'static [&'static str],
    /// The key just read is one of `skip`.
    blank: bool,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for Blanking<A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        use serde::de::IntoDeserializer;
        let Some(Text(key)) = self.map.next_key::<Text<'de>>()? else { return Ok(None) };
        self.blank = self.skip.contains(&&*key);
        let key: serde::de::value::CowStrDeserializer<'de, A::Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        if std::mem::take(&mut self.blank) {
            self.map.next_value::<Unread>()?;
            return seed.deserialize(serde::de::value::StrDeserializer::<A::Error>::new(""));
        }
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// The rest of an event's map, as the externally tagged enum `ByKind` reads it: the variant is
/// `kind`, its fields are the entries left.
struct BodyOf<'de, A> {
    kind: std::borrow::Cow<'de, str>,
    map: A,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::Deserializer<'de> for BodyOf<'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::EnumAccess<'de> for BodyOf<'de, A> {
    type Error = A::Error;
    type Variant = Fields<A>;

    fn variant_seed<V: serde::de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Fields<A>), A::Error> {
        use serde::de::IntoDeserializer;
        let kind: serde::de::value::StrDeserializer<'_, A::Error> = (&*self.kind).into_deserializer();
        // Naming a variant fails only for a kind no event has: said with a guess at the kind meant.
        let variant = seed.deserialize(kind).map_err(|_| unknown_kind(&self.kind))?;
        Ok((variant, Fields(self.map)))
    }
}

struct Fields<A>(A);

impl<'de, A: serde::de::MapAccess<'de>> serde::de::VariantAccess<'de> for Fields<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        Err(serde::de::Error::custom("every event kind has fields"))
    }

    fn newtype_variant_seed<T: serde::de::DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, A::Error> {
        Err(serde::de::Error::custom("every event kind has named fields"))
    }

    fn tuple_variant<V: serde::de::Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, A::Error> {
        Err(serde::de::Error::custom("every event kind has named fields"))
    }

    fn struct_variant<V: serde::de::Visitor<'de>>(self, _: &'static [&'static str], visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}
