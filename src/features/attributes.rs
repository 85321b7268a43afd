//! Customer attributes as features: numbers and flags as given, dates as days before the
//! cutoff, categories one-hot over the spec's vocabulary, and a missing flag for each.

use super::compute::{flag, Sink};
use super::spec::{FeatureSpec, FeatureType};
use crate::journey::{AttrValue, AttributeKind, Timestamp};

/// Writes the attribute features of `attributes` (aligned with `spec.attributes`) to `sink`.
pub(super) fn emit(
    spec: &FeatureSpec,
    cutoff: Timestamp,
    attributes: Option<&[AttrValue]>,
    sink: &mut dyn Sink,
) {
    use FeatureType::*;
    for (i, encoding) in spec.attributes.iter().enumerate() {
        let given = attributes
            .and_then(|a| a.get(i))
            .unwrap_or(&AttrValue::Missing);
        // A date at or after the cutoff is not known yet, and a non-finite number is no number:
        // both count as missing, so attributes can never leak the future.
        let value = match given {
            AttrValue::Date(t) if *t >= cutoff => &AttrValue::Missing,
            AttrValue::Number(v) if !v.is_finite() || v.abs() > f64::from(f32::MAX) => {
                &AttrValue::Missing
            }
            other => other,
        };
        let name = &encoding.name;
        let missing = matches!(value, AttrValue::Missing);
        match encoding.kind {
            AttributeKind::Numeric | AttributeKind::Boolean => {
                let number = match value {
                    AttrValue::Number(v) => *v as f32,
                    AttrValue::Bool(b) => flag(*b),
                    _ => 0.0,
                };
                let kind = if encoding.kind == AttributeKind::Boolean {
                    Flag
                } else {
                    Number
                };
                sink.put(&|| format!("attr_{name}"), kind, number);
            }
            AttributeKind::Date => {
                let days = match value {
                    AttrValue::Date(t) => cutoff.days_since(*t) as f32,
                    _ => 0.0,
                };
                sink.put(&|| format!("attr_{name}_days_since"), Days, days);
            }
            AttributeKind::Categorical => {
                let category = match value {
                    AttrValue::Category(c) => Some(c.as_str()),
                    _ => None,
                };
                let mut known = false;
                for label in &encoding.vocabulary {
                    let hit = category == Some(label.as_str());
                    known |= hit;
                    sink.put(&|| format!("attr_{name}={label}"), Flag, flag(hit));
                }
                sink.put(
                    &|| format!("attr_{name}=__other"),
                    Flag,
                    flag(category.is_some() && !known),
                );
            }
        }
        sink.put(&|| format!("attr_{name}__missing"), Flag, flag(missing));
    }
}
