//! Reading JSON the way the OpenAPI document describes it (ground level: any part may use it).
//!
//! Two places where serde's defaults are looser or stricter than JSON Schema:
//! - serde reads a struct from a sequence too (`"eligibility": [0.1, 0.9]` fills the fields in
//!   order), where the document says "an object": [`objects_only!`] makes a struct read only
//!   from a map (a JSON object; a TOML table).
//! - serde refuses `10.0` for an integer field, where JSON Schema's `integer` is any number
//!   without a fractional part: [`optional_integer`] takes both.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Makes a struct read only from a map (a JSON object, a TOML table), never from a sequence.
/// The struct derives `Deserialize` (and `Serialize`, when `serialize` is given) with
/// `#[serde(remote = "Self")]`, which turns the derived code into associated functions; this
/// macro writes the trait implementations around them.
macro_rules! objects_only {
    ($type:ty) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$type, A::Error> {
                        <$type>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
    ($type:ty, serialize) => {
        $crate::wire::objects_only!($type);
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$type>::serialize(self, serializer)
            }
        }
    };
}

pub(crate) use objects_only;

/// A non-negative integer, written `10` or `10.0` (JSON Schema's `integer`).
struct Integer(u64);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor;
        impl Visitor<'_> for IntegerVisitor {
            type Value = Integer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Integer, E> {
                Ok(Integer(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Integer, E> {
                u64::try_from(v)
                    .map(Integer)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Integer, E> {
                // Below 2^64 and whole: exactly representable as a u64.
                if v.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&v) {
                    Ok(Integer(v as u64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(IntegerVisitor)
    }
}

/// An optional non-negative integer that fits `T`, written `10` or `10.0`; for
/// `#[serde(default, deserialize_with = "crate::wire::optional_integer")]`.
pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    match Option::<Integer>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Integer(v)) => T::try_from(v).map(Some).map_err(|_| {
            de::Error::invalid_value(de::Unexpected::Unsigned(v), &"an integer within range")
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(remote = "Self", deny_unknown_fields)]
    struct Caps {
        #[serde(default, deserialize_with = "super::optional_integer")]
        per_week: Option<u32>,
    }
    crate::wire::objects_only!(Caps, serialize);

    #[test]
    fn structs_come_from_objects_and_integers_may_be_written_as_floats() {
        let read = |text: &str| serde_json::from_str::<Caps>(text).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"per_week": 3}"#), Ok(Caps { per_week: Some(3) }));
        assert_eq!(read(r#"{"per_week": 3.0}"#), Ok(Caps { per_week: Some(3) }));
        assert_eq!(read(r#"{"per_week": null}"#), Ok(Caps { per_week: None }));
        assert_eq!(read("{}"), Ok(Caps { per_week: None }));
        for wrong in [
            "[3]",
            r#"{"per_week": 3.5}"#,
            r#"{"per_week": -1}"#,
            r#"{"per_week": 4294967296}"#,
            r#"{"per_week": 1e300}"#,
            r#"{"other": 1}"#,
        ] {
            assert!(read(wrong).is_err(), "{wrong}");
        }
        assert_eq!(
            serde_json::to_string(&Caps { per_week: Some(2) }).ok(),
            Some(r#"{"per_week":2}"#.to_string())
        );
    }
}
