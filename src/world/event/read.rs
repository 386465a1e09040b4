//! Reading an event fast: once `step`, `round`, `tick` and `kind` are read, the body's fields go
//! straight into its variant; any other key order still reads, to the same event.

use super::{ByKind, Event, EventBody};
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
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

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
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "step" if step.is_none() => step = Some(map.next_value::<u64>()?),
                "round" if round.is_none() => round = Some(map.next_value::<u32>()?),
                "tick" if tick.is_none() => tick = Some(map.next_value::<u64>()?),
                "kind" => {
                    let kind = map.next_value::<std::borrow::Cow<'de, str>>()?;
                    if let (Some(step), Some(round), Some(tick)) = (step, round, tick) {
                        let body = ByKind::deserialize(BodyOf { kind, map })?;
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
        let e = AnyOrder::deserialize(Value::Object(seen)).map_err(A::Error::custom)?;
        Ok(Event { step: e.step, round: e.round, tick: e.tick, body: e.body })
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
        let kind: serde::de::value::CowStrDeserializer<'de, A::Error> = self.kind.into_deserializer();
        Ok((seed.deserialize(kind)?, Fields(self.map)))
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
